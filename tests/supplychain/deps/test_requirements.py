"""The requirements parser: pip's file format, edge by edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeshield.errors import ArtifactError
from pipeshield.supplychain.deps import parse_requirements


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_pins_specifiers_extras_markers_and_comments(tmp_path: Path) -> None:
    req = _write(tmp_path / "requirements.txt", """\
# a comment line
torch==2.5.1   # trailing comment
numpy>=1.26
Scikit_Learn[alldeps]==1.4.2 ; python_version >= "3.9"
pandas
regex===2024.1.1
tqdm==4.*
""")
    deps = {d.name: d for d in parse_requirements(req).dependencies}
    assert deps["torch"].version == "2.5.1" and deps["torch"].line == 2 and deps["torch"].pinned
    assert deps["numpy"].version is None and deps["numpy"].specifier == ">=1.26"
    sk = deps["Scikit_Learn"]
    assert sk.key == "scikit-learn" and sk.version == "1.4.2" and sk.extras == ("alldeps",)
    assert sk.marker == 'python_version >= "3.9"'
    assert deps["pandas"].version is None and deps["pandas"].specifier == ""
    assert deps["regex"].version == "2024.1.1"
    assert deps["tqdm"].version is None  # a wildcard is a range, not a pin


def test_hashes_and_continuations(tmp_path: Path) -> None:
    req = _write(tmp_path / "r.txt", "torch==2.5.1 \\\n    --hash=sha256:aaa \\\n    --hash sha256:bbb\nnumpy==2.4.6\n")
    torch, numpy = parse_requirements(req).dependencies
    assert torch.hashes == ("sha256:aaa", "sha256:bbb") and torch.line == 1
    assert numpy.hashes == () and numpy.line == 4


def test_includes_are_relative_to_the_including_file_and_cycles_end(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub" / "base.txt", "onnx==1.15.0\n-r ../requirements.txt\n")
    req = _write(tmp_path / "requirements.txt", "-r sub/base.txt\n--requirement=sub/base.txt\ntorch==2.5.1\n")
    parsed = parse_requirements(req)
    assert [d.name for d in parsed.dependencies] == ["onnx", "torch"]
    assert parsed.dependencies[0].source.endswith("sub/base.txt")


def test_missing_include_names_the_including_line(tmp_path: Path) -> None:
    req = _write(tmp_path / "requirements.txt", "numpy==2.4.6\n-r missing.txt\n")
    with pytest.raises(ArtifactError, match=r"requirements.txt:2: requirements file not found: .*missing.txt"):
        parse_requirements(req)


def test_urls_vcs_editables_and_paths_are_unpinned(tmp_path: Path) -> None:
    req = _write(tmp_path / "requirements.txt", """\
-e git+https://github.com/org/ylib.git@v1#egg=ylib
-e ./local-pkg
git+https://github.com/org/bpkg.git@abc123#egg=bpkg
https://files.example.org/wheels/foo_bar-1.0-py3-none-any.whl
pkg @ https://example.org/pkg-2.0.tar.gz
./vendored/thing
""")
    deps = parse_requirements(req).dependencies
    assert [d.name for d in deps] == ["ylib", "local-pkg", "bpkg", "foo_bar", "pkg", "thing"]
    assert all(d.version is None and not d.pinned for d in deps)
    assert deps[0].editable and deps[1].editable and not deps[2].editable
    assert deps[4].url == "https://example.org/pkg-2.0.tar.gz"


def test_file_wide_options(tmp_path: Path) -> None:
    req = _write(tmp_path / "requirements.txt", "--require-hashes\n-i https://pypi.org/simple\n"
                 "--extra-index-url https://internal.example/simple\n-c constraints.txt\nnumpy==2.4.6\n")
    parsed = parse_requirements(req)
    assert parsed.require_hashes
    assert parsed.extra_index_urls == [(f"{req}:3", "https://internal.example/simple")]
    assert [d.name for d in parsed.dependencies] == ["numpy"]  # a constraint file is not followed


def test_invalid_line_is_one_clear_error(tmp_path: Path) -> None:
    req = _write(tmp_path / "requirements.txt", "numpy==2.4.6\ntorch=!2\n")
    with pytest.raises(ArtifactError, match=r"requirements.txt:2: not a valid requirement: 'torch=!2'"):
        parse_requirements(req)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="requirements file not found"):
        parse_requirements(tmp_path / "nope.txt")
    bad = tmp_path / "bin.txt"
    bad.write_bytes(b"\xff\xfe\x00torch")
    with pytest.raises(ArtifactError, match="not a UTF-8 text file"):
        parse_requirements(bad)
