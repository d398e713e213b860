import io

import pytest

from bastion.banks.formats import read_hash_list, write_hash_list
from bastion.errors import InvalidHash, InvalidHashList
from bastion.model import HashEntry

PDQ = ["%064x" % (i * 0x1234567) for i in range(1, 6)]
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def roundtrip(entries, fmt, **kw):
    buf = io.StringIO()
    write_hash_list(entries, buf, fmt)
    buf.seek(0)
    return read_hash_list(buf, fmt, name=f"x.{fmt}", **kw).entries


def test_csv_roundtrip_keeps_types_labels_and_refs():
    entries = [HashEntry("pdq", PDQ[0], "label, with comma", "ref-1"), HashEntry("md5", MD5), HashEntry("sha256", SHA256, "x")]
    assert roundtrip(entries, "csv") == entries


def test_lines_roundtrip_mixed_and_single_type():
    mixed = [HashEntry("pdq", PDQ[0]), HashEntry("sha256", SHA256), HashEntry("sha1", SHA1)]
    assert roundtrip(mixed, "lines") == mixed
    md5s = [HashEntry("md5", MD5)]
    buf = io.StringIO()
    write_hash_list(md5s, buf, "lines")
    assert buf.getvalue() == MD5 + "\n"  # one bare hash per line when the length tells the type
    pdqs = [HashEntry("pdq", h) for h in PDQ]
    buf = io.StringIO()
    write_hash_list(pdqs, buf, "lines")
    assert buf.getvalue().splitlines() == PDQ  # one bare hash per line
    assert roundtrip(pdqs, "lines", hash_type="pdq") == pdqs
    with pytest.raises(InvalidHashList, match="give the type"):
        roundtrip(pdqs, "lines")  # 64 hex digits: SHA-256 or PDQ, the reader must say


def test_te_roundtrip_and_refuses_other_types():
    pdqs = [HashEntry("pdq", h) for h in PDQ]
    buf = io.StringIO()
    write_hash_list(pdqs, buf, "te")
    assert buf.getvalue().splitlines()[0] == f"pdq {PDQ[0]}"
    assert roundtrip(pdqs, "te") == pdqs
    with pytest.raises(InvalidHash, match="PDQ and vPDQ only"):
        write_hash_list([HashEntry("md5", MD5)], io.StringIO(), "te")


def test_bare_values_infer_type_by_length_except_64_digits():
    got = read_hash_list(io.StringIO(f"{MD5}\n{SHA1}\n"), "lines").entries
    assert [e.hash_type for e in got] == ["md5", "sha1"]
    with pytest.raises(InvalidHashList, match="give the type"):
        read_hash_list(io.StringIO(PDQ[0] + "\n"), "lines")
    assert read_hash_list(io.StringIO(PDQ[0] + "\n"), "lines", hash_type="pdq").entries[0].hash_type == "pdq"


def test_invalid_lines_are_named_and_nothing_is_imported(tmp_path):
    f = tmp_path / "list.txt"
    f.write_text(f"# comment\npdq {PDQ[0]}\n\npdq nothex\npdq {PDQ[1]}\nwhat {MD5}\npdq abc\n")
    with pytest.raises(InvalidHashList) as ei:
        read_hash_list(f, "lines")
    problems = ei.value.problems
    assert [(p[0], p[1]) for p in problems] == [(str(f), 4), (str(f), 6), (str(f), 7)]
    assert f"{f}:4:" in str(ei.value) and "not hexadecimal" in str(ei.value)
    assert "unknown hash type 'what'" in str(ei.value)
    assert "expected 64" in str(ei.value)


def test_skip_invalid_imports_the_rest_and_still_reports():
    res = read_hash_list(io.StringIO(f"pdq {PDQ[0]}\npdq zz\npdq {PDQ[1]}\n"), "te", skip_invalid=True, name="t")
    assert [e.value for e in res.entries] == PDQ[:2]
    assert res.invalid == [("t", 2, "pdq value 'zz' is not hexadecimal")]


def test_duplicates_in_a_file_are_merged_and_counted():
    text = f"hash_type,hash,label\npdq,{PDQ[0]},\npdq,{PDQ[0].upper()},named\nmd5,{MD5},m\n"
    res = read_hash_list(io.StringIO(text), "csv")
    assert res.duplicates == 1
    assert res.entries == [HashEntry("pdq", PDQ[0], "named"), HashEntry("md5", MD5, "m")]


def test_csv_header_and_rows_are_checked():
    with pytest.raises(InvalidHashList, match="header"):
        read_hash_list(io.StringIO(f"kind,digest_of\npdq,{PDQ[0]}\n"), "csv")
    with pytest.raises(InvalidHashList, match=r":3: expected 3 columns"):
        read_hash_list(io.StringIO(f"hash_type,hash,label\npdq,{PDQ[0]},a\npdq,{PDQ[1]}\n"), "csv", name="c")
    res = read_hash_list(io.StringIO(f"hash_type,hash,label,severity\npdq,{PDQ[0]},a,5\n"), "csv")
    assert res.ignored_columns == ["severity"]


def test_te_format_rejects_types_it_does_not_know():
    with pytest.raises(InvalidHashList, match="not supported in the te format"):
        read_hash_list(io.StringIO(f"sha256 {SHA256}\n"), "te")
    assert read_hash_list(io.StringIO(f"video_md5 {MD5}\n"), "te").entries == [HashEntry("md5", MD5)]


def test_non_utf8_file_is_a_named_error(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(f"pdq {PDQ[0]}\n".encode() + b"\xff\xfe\n")
    with pytest.raises(InvalidHashList, match=r"bad.txt:2: not valid UTF-8"):
        read_hash_list(f, "lines")


def test_csv_common_header_names_and_tsv():
    want = [HashEntry("pdq", PDQ[0], "a", "r1"), HashEntry("md5", MD5)]
    for header in ("type,value,label,source", "signal_type,signal,note,reference", "hash_type,hash,label,source_ref"):
        res = read_hash_list(io.StringIO(f"{header}\npdq,{PDQ[0]},a,r1\nmd5,{MD5},,\n"), "csv")
        assert res.entries == want and res.ignored_columns == [], header
    tsv = f"type\tvalue\tlabel\tsource\npdq\t{PDQ[0]}\ta\tr1\nmd5\t{MD5}\t\t\n"
    assert read_hash_list(io.StringIO(tsv), "tsv").entries == want
    assert read_hash_list(io.StringIO(tsv), "csv").entries == want  # tabs and no commas in the header
    buf = io.StringIO()
    write_hash_list(want, buf, "tsv")
    assert read_hash_list(io.StringIO(buf.getvalue()), "tsv").entries == want


def test_te_lines_of_signal_types_bastion_does_not_match_are_counted_not_invalid():
    text = f"pdq {PDQ[0]}\nurl https://example.org/a\nraw_text two words\nurl https://example.org/b\n"
    res = read_hash_list(io.StringIO(text), "te")
    assert res.entries == [HashEntry("pdq", PDQ[0])] and res.invalid == []
    assert res.skipped_types == {"url": 2, "raw_text": 1}
