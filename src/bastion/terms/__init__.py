"""Emerging coded terms: discovery (term counts kept at intake and decision, ranked by a log-odds ratio with
an informative Dirichlet prior, growth and co-occurrence with known terms), the platform's own lexicon
(added, removed, rejected by leads; audited; applied live by every server process) and retro-scoring of
stored items when a term is added. See docs/text.md ("Emerging terms")."""
