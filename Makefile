# A menu: every target is one line calling a script in scripts/, which does the work.
.DEFAULT_GOAL := help
.PHONY: help run test lint bench bench-import bench-ftp bench-send dump-wsdl db-start db-stop clean

help: ## this menu
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  make %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

run: ## dev database, migrate, demo account, SOAP server + worker; Ctrl-C stops all
	scripts/run

test: ## the whole test suite (narrow it: make test ARGS='-x -k import')
	scripts/test $(ARGS)

lint: ## ruff, import-linter contracts, mypy
	scripts/lint

bench: ## measure throughput (never asserted in make test)
	scripts/bench

bench-import: ## import 1,000,000 rows end to end (SOAP, worker) beside a raw COPY
	scripts/bench-import $(ARGS)

bench-ftp: ## a 1,000,000-row file over FTP through the daily sync; a 1,000,000-row export
	scripts/bench-ftp $(ARGS)

bench-send: ## a newsletter to 100,000 subscribers over SMTP beside a raw smtplib loop
	scripts/bench-send $(ARGS)

dump-wsdl: ## regenerate the committed wsdl/*.wsdl from the services
	scripts/dump-wsdl

db-start: ## start the dev PostgreSQL (var/dev, port 54320) and print its URL
	scripts/pg start dev 54320

db-stop: ## stop the dev PostgreSQL
	scripts/pg stop dev

clean: ## stop and delete the private clusters (var/), delete .venv
	scripts/pg clean && rm -rf .venv
