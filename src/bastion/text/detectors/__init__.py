"""Pattern detectors over folded text: off-platform contacts, commerce (prices, payment, wallets), ages."""

from bastion.text.detectors.ages import AgeHit, find_ages
from bastion.text.detectors.commerce import CommerceHit, find_commerce
from bastion.text.detectors.contacts import ContactHit, find_contacts

__all__ = ["AgeHit", "CommerceHit", "ContactHit", "find_ages", "find_commerce", "find_contacts"]
