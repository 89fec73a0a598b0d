"""mailup-soap: a self-hostable server speaking MailUp's classic web services."""
