"""Issue 29, model zips: a member that lies about its size (whatever the compression), a corrupted CRC, a local
header naming another file, a directory that announces a million entries, a truncated member -- each is one
AutosegError line, nothing is written outside the target folder, and memory stays bounded (a bzip2 member of
785 bytes that expands to 64 MiB is refused after one chunk). Plus Hypothesis fuzzing of the zip reader."""

from __future__ import annotations

import bz2
import hashlib
import json
import lzma
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoseg import cli
from autoseg.errors import AutosegError
from autoseg.layout.archive import Limits, check_zip, extract_zip, read_member

BOMB_BYTES = 64 * 2**20


# ---- a hand-made zip writer: every field as the test says, true or not -------------------------------------------


def compress(data_chunks, method: int) -> bytes:
    """Compress an iterable of chunks the way a zip member is stored (raw deflate, bzip2, zip's LZMA header)."""
    if method == zipfile.ZIP_STORED:
        return b"".join(data_chunks)
    if method == zipfile.ZIP_DEFLATED:
        engine = zlib.compressobj(9, zlib.DEFLATED, -15)
    elif method == zipfile.ZIP_BZIP2:
        engine = bz2.BZ2Compressor(9)
    else:
        filters = [{"id": lzma.FILTER_LZMA1, "preset": 0}]
        properties = lzma._encode_filter_properties(filters[0])
        engine = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=filters)
        prefix = struct.pack("<BBH", 9, 4, len(properties)) + properties
        return prefix + b"".join(engine.compress(c) for c in data_chunks) + engine.flush()
    return b"".join(engine.compress(c) for c in data_chunks) + engine.flush()


def raw_zip(path: Path, members: list[dict], declared_entries: int | None = None) -> Path:
    """members: name, data (stored bytes), method, crc, size (declared uncompressed), local_name and csize
    (declared compressed size) optional."""
    out, central = bytearray(), bytearray()
    for m in members:
        name, local = m["name"].encode(), m.get("local_name", m["name"]).encode()
        offset = len(out)
        csize = m.get("csize", len(m["data"]))
        out += (
            struct.pack(
                "<4sHHHHHIIIHH",
                b"PK\x03\x04",
                20,
                0x800,
                m["method"],
                0,
                0x21,
                m["crc"],
                csize,
                m["size"],
                len(local),
                0,
            )
            + local
            + m["data"]
        )
        central += (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0x800,
                m["method"],
                0,
                0x21,
                m["crc"],
                csize,
                m["size"],
                len(name),
                0,
                0,
                0,
                0,
                0o644 << 16,
                offset,
            )
            + name
        )
    entries = len(members) if declared_entries is None else declared_entries
    path.write_bytes(
        bytes(out)
        + bytes(central)
        + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, entries, entries, len(central), len(out), 0)
    )
    return path


def member(name: str, payload: bytes, method: int = zipfile.ZIP_DEFLATED, **lies) -> dict:
    entry = {
        "name": name,
        "data": compress([payload], method),
        "method": method,
        "crc": zlib.crc32(payload),
        "size": len(payload),
    }
    return {**entry, **lies}


def bomb(method: int) -> dict:
    """BOMB_BYTES of zeros (compressed a MiB at a time) declared as 100 bytes: the ratio check sees nothing."""
    data = compress((bytes(2**20) for _ in range(BOMB_BYTES // 2**20)), method)
    return {"name": "plans.json", "data": data, "method": method, "crc": 0, "size": 100}


def card_for(files: dict[str, bytes]) -> bytes:
    return json.dumps(
        {
            "format": "autoseg-model",
            "format_version": 1,
            "files": {n: {"bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()},
        }
    ).encode()


def valid_members() -> list[dict]:
    plans = b'{"name": "fuzz"}' * 20
    return [member("model.json", card_for({"plans.json": plans})), member("plans.json", plans)]


def one_line(error: AutosegError, path: Path) -> None:
    assert "\n" not in str(error) and str(path) in str(error) and "Fix:" in str(error)


# ---- the regression catalogue --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA, zipfile.ZIP_STORED])
def test_a_member_lying_about_its_size_is_stopped_at_the_declared_size(tmp_path, method):
    if method == zipfile.ZIP_STORED:
        entry = member("plans.json", b"x" * 5000, method, size=100)
    else:
        entry = bomb(method)
        assert len(entry["data"]) < 200_000 and entry["size"] == 100
    path = raw_zip(tmp_path / "bomb.zip", [entry])
    tracemalloc.start()
    try:
        with pytest.raises(AutosegError, match="more than its declared") as error:
            extract_zip(path, tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_line(error.value, path)
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB traced while refusing"
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


@pytest.mark.slow
def test_the_bzip2_bomb_is_refused_with_bounded_peak_memory_in_a_fresh_process(tmp_path):
    """Resident memory (C allocations included), measured in a child: decompressing the member whole, as
    zipfile does, would add BOMB_BYTES; the streaming reader adds about a chunk."""
    path = raw_zip(tmp_path / "bomb.zip", [bomb(zipfile.ZIP_BZIP2)])
    child = textwrap.dedent(f"""
        import resource, sys
        from autoseg.errors import AutosegError
        from autoseg.layout.archive import extract_zip
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            extract_zip({str(path)!r}, {str(tmp_path / "out")!r})
        except AutosegError as error:
            print("refused:", error)
        print("grew_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert "refused:" in result.stdout, result.stdout + result.stderr
    grew_kib = int(result.stdout.split("grew_kib")[-1])
    assert grew_kib * 1024 < BOMB_BYTES // 4, f"peak resident memory grew by {grew_kib} KiB"


def test_a_corrupted_crc_is_one_line(tmp_path):
    members = valid_members()
    members[1]["crc"] ^= 0xDEAD
    path = raw_zip(tmp_path / "crc.zip", members)
    with pytest.raises(AutosegError, match="CRC") as error:
        extract_zip(path, tmp_path / "out")
    one_line(error.value, path)
    assert not (tmp_path / "out").exists()


def test_flipped_payload_bytes_fail_the_crc_or_the_decompression(tmp_path):
    members = valid_members()
    stored = member("plans.json", b'{"name": "fuzz"}' * 20, zipfile.ZIP_STORED)
    stored["data"] = stored["data"][:5] + b"X" + stored["data"][6:]
    path = raw_zip(tmp_path / "flip.zip", [members[0], stored])
    with pytest.raises(AutosegError, match="CRC"):
        read_member(path, check_zip(path)[1])


def test_local_and_central_names_that_differ_are_one_line(tmp_path):
    members = valid_members()
    members[1]["local_name"] = "../../evil.json"
    path = raw_zip(tmp_path / "names.zip", members)
    with pytest.raises(AutosegError, match="local header names") as error:
        extract_zip(path, tmp_path / "out")
    one_line(error.value, path)
    assert not (tmp_path / "evil.json").exists() and not (tmp_path.parent / "evil.json").exists()


def test_a_directory_announcing_a_million_entries_is_refused_before_parsing(tmp_path):
    path = raw_zip(tmp_path / "many.zip", valid_members(), declared_entries=60_000)
    with pytest.raises(AutosegError, match="declares 60000 entries"):
        check_zip(path)


def test_too_many_members_and_too_many_bytes_are_refused(tmp_path):
    path = raw_zip(tmp_path / "ok.zip", valid_members())
    with pytest.raises(AutosegError, match="more than the 1 allowed"):
        check_zip(path, Limits(files=1))
    with pytest.raises(AutosegError, match="AUTOSEG_MAX_ZIP_BYTES"):
        check_zip(path, Limits(total_bytes=10))


def test_a_member_whose_data_runs_past_the_end_of_the_file_is_one_line(tmp_path):
    members = valid_members()
    members[1]["csize"] = 10**6  # its compressed bytes claim to run past the end of the file
    path = raw_zip(tmp_path / "cut.zip", members)
    with pytest.raises(AutosegError, match="cut short") as error:
        extract_zip(path, tmp_path / "out")
    one_line(error.value, path)


def test_a_valid_hand_made_zip_unpacks_exactly(tmp_path):
    path = raw_zip(tmp_path / "ok.zip", valid_members())
    out = extract_zip(path, tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "plans.json"]
    assert (out / "plans.json").read_bytes() == b'{"name": "fuzz"}' * 20


def test_import_of_a_corrupted_model_is_one_line_and_imports_nothing(tmp_path, capsys):
    members = valid_members()
    members[0]["crc"] ^= 1
    path = raw_zip(tmp_path / "broken.zip", members)
    assert cli.main(["import", str(path), "-o", str(tmp_path / "models")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "CRC" in err[0]
    assert not (tmp_path / "models" / "broken").exists()


# ---- fuzzing: one clear line or a correct result; nothing outside the target; memory bounded ----------------------

NAMES = st.sampled_from(
    [
        "model.json",
        "plans.json",
        "inference.json",
        "README.md",
        "../x.json",
        "/abs.json",
        "models/3d/fold_0/checkpoint_final.pt",
        "models/../../x/fold_0/checkpoint_final.pt",
        ".",
        "..",
        "a\\b",
        "models/3d/fold_0/",
        "",
    ]
)
METHODS = st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, 99])


@st.composite
def hostile_members(draw) -> list[dict]:
    result = []
    for _ in range(draw(st.integers(1, 4))):
        payload = draw(st.binary(max_size=300)) * draw(st.integers(1, 2000))
        method = draw(METHODS)
        entry = member(draw(NAMES), payload, method if method != 99 else zipfile.ZIP_STORED)
        entry["method"] = method
        if draw(st.booleans()):
            entry["size"] = draw(st.integers(0, 2**32 - 1))
        if draw(st.booleans()):
            entry["crc"] = draw(st.integers(0, 2**32 - 1))
        if draw(st.booleans()):
            entry["local_name"] = draw(NAMES)
        result.append(entry)
    return result


def _unpack_checked(path: Path, root: Path) -> None:
    """The invariant: AutosegError in one line, or every file written is inside the target and a model file."""
    before = {p for p in root.rglob("*")}
    target = root / "target"
    tracemalloc.start()
    try:
        extract_zip(path, target)
        peak = tracemalloc.get_traced_memory()[1]
        written = [p for p in target.rglob("*") if p.is_file()]
        assert all(target in p.parents for p in written)
    except AutosegError as error:
        peak = tracemalloc.get_traced_memory()[1]
        assert "\n" not in str(error) and str(path) in str(error)
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB"
    outside = {p for p in root.rglob("*")} - before - {target} - set(target.rglob("*"))
    assert not outside, outside


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=hostile_members())
def test_fuzz_hand_made_hostile_zips(tmp_path_factory, members):
    root = tmp_path_factory.mktemp("fuzz")
    _unpack_checked(raw_zip(root / "in.zip", members), root)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
    cut=st.none() | st.integers(0, 10**6),
)
def test_fuzz_mutated_bytes_of_a_valid_zip(tmp_path_factory, edits, cut):
    root = tmp_path_factory.mktemp("mutate")
    data = bytearray(raw_zip(root / "valid.zip", valid_members()).read_bytes())
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path = root / "in.zip"
    path.write_bytes(bytes(data))
    try:
        check_zip(path)
    except AutosegError as error:
        assert "\n" not in str(error)
        return
    _unpack_checked(path, root)
