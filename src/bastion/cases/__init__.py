"""The domain of the service: items, accounts and their links, cases, decisions, batch jobs, retro-matching.
No HTTP here: the API, the console and the CLI call the same functions."""
