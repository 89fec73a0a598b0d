"""The real-time HTTP endpoints (xmlSubscribe.aspx and friends); built by the frontend issue."""
