"""Everything that leaves the process or must outlive it: webhooks (subscriptions, transactional outbox,
signed delivery with retries and dead letters), the hash-chained audit log, and the guarded URL media fetch.

Kept import-light: ``bastion.store.schema`` imports :mod:`bastion.effects.models` so Alembic and
``Base.metadata`` see the tables; import the submodules you need (``webhooks``, ``delivery``, ``audit``,
``fetch``).
"""
