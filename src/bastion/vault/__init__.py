"""Evidence vault: original bytes sealed with AES-256-GCM, a chain of custody, retention and legal holds.

See :mod:`bastion.vault.service` for the rules and ``docs/reporting.md`` for configuration."""

from bastion.vault.crypto import Keyring, new_key_text
from bastion.vault.service import PurgedBlob, Vault, blob_to_dict
from bastion.vault.storage import LocalFolderStorage, Storage

__all__ = ["Keyring", "LocalFolderStorage", "PurgedBlob", "Storage", "Vault", "blob_to_dict", "new_key_text"]
