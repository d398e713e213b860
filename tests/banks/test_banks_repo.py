import pytest

from bastion.banks.repo import BankRepository
from bastion.errors import BankExists, BastionError, InvalidHash, UnknownBank
from bastion.model import Bank, HashEntry

PDQ_A = "f" * 64
PDQ_B = "0" * 63 + "1"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


@pytest.fixture
def repo(store):
    return BankRepository(store)


def test_create_list_get_delete(repo):
    repo.create(Bank("known", category="csam", description="d", pdq_threshold=20))
    repo.create(Bank("allow", category="known-benign"))
    assert [b.name for b in repo.list()] == ["allow", "known"]
    b = repo.get("known")
    assert (b.category, b.pdq_threshold, b.min_quality, b.enabled) == ("csam", 20, 50, True)
    with pytest.raises(BankExists):
        repo.create(Bank("known"))
    repo.add_entries("known", [HashEntry("pdq", PDQ_A)])
    assert repo.delete("known") == 1
    with pytest.raises(UnknownBank):
        repo.get("known")


def test_bank_fields_are_validated(repo):
    with pytest.raises(BastionError, match="category"):
        repo.create(Bank("x", category="nonsense"))
    with pytest.raises(BastionError, match="threshold"):
        repo.create(Bank("x", pdq_threshold=300))
    repo.create(Bank("x"))
    with pytest.raises(BastionError, match="quality"):
        repo.update("x", min_quality=101)
    assert repo.update("x", enabled=False, pdq_threshold=10).pdq_threshold == 10
    assert repo.get("x").enabled is False


def test_duplicates_are_merged_never_doubled(repo):
    repo.create(Bank("b"))
    r = repo.add_entries("b", [HashEntry("pdq", PDQ_A), HashEntry("pdq", PDQ_A.upper(), "later"), HashEntry("md5", MD5)])
    assert (r.added, r.merged) == (2, 1)
    # the label given second fills the gap left by the first
    assert {e.value: e.label for e in repo.entries("b")}[PDQ_A] == "later"
    r = repo.add_entries("b", [HashEntry("pdq", PDQ_A, "other"), HashEntry("pdq", PDQ_B, "new")])
    assert (r.added, r.merged) == (1, 1)
    labels = {e.value: e.label for e in repo.entries("b")}
    assert labels[PDQ_A] == "later"  # an existing label is not overwritten
    assert repo.get("b").entry_count == 3


def test_same_hash_in_two_banks_is_two_entries(repo):
    repo.create(Bank("a"))
    repo.create(Bank("b"))
    repo.add_entries("a", [HashEntry("md5", MD5)])
    repo.add_entries("b", [HashEntry("md5", MD5)])
    assert repo.get("a").entry_count == repo.get("b").entry_count == 1


def test_remove_reports_what_was_not_there(repo):
    repo.create(Bank("b"))
    repo.add_entries("b", [HashEntry("pdq", PDQ_A), HashEntry("md5", MD5)])
    r = repo.remove_entries("b", [HashEntry("pdq", PDQ_A), HashEntry("pdq", PDQ_B)])
    assert r.removed == 1 and [e.value for e in r.not_found] == [PDQ_B]
    assert [e.hash_type for e in repo.entries("b")] == ["md5"]


def test_invalid_hash_is_refused_and_nothing_added(repo):
    repo.create(Bank("b"))
    with pytest.raises(InvalidHash):
        repo.add_entries("b", [HashEntry("pdq", PDQ_A), HashEntry("pdq", "xyz")])
    assert repo.get("b").entry_count == 0


def test_bulk_add_spans_chunks(repo):
    repo.create(Bank("big"))
    entries = [HashEntry("pdq", f"{i:064x}") for i in range(4500)]
    assert repo.add_entries("big", entries).added == 4500
    assert repo.add_entries("big", entries[::-1]).merged == 4500
    assert repo.get("big").entry_count == 4500
