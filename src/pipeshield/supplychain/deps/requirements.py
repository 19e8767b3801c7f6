"""A pip requirements file parser that never runs pip and never touches the network.

It follows pip's file format: ``\\`` continues a line; ``#`` after whitespace starts a comment;
``-r``/``--requirement`` includes another file relative to the including one; ``-c`` constraint
files pin nothing by themselves and are not followed; ``-e``/``--editable`` lines, bare URLs, VCS
links (``git+https://...#egg=name``), ``name @ URL`` and local paths are kept and marked, because
they cannot be checked against advisories or hashes; ``--hash`` options attach to their line;
``--extra-index-url`` is recorded (it opens the door to dependency confusion).

    >>> parsed = parse_requirements(Path("requirements.txt"))      # doctest: +SKIP
    >>> [(d.name, d.version) for d in parsed.dependencies]
    [('torch', '2.5.1'), ('numpy', None)]

Environment markers are kept but not evaluated: a requirements file is installed on other
platforms too, so a vulnerable pin behind ``; sys_platform == "win32"`` is still reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement

from pipeshield.errors import ArtifactError
from pipeshield.supplychain.deps.model import Dependency

__all__ = ["ParsedRequirements", "parse_requirements"]

_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*\+)?(?:https?|file|ftp|ssh|git|hg|svn|bzr)://|^[a-z]+\+", re.IGNORECASE)
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_DIST_FILE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._]*?)-\d")
_INCLUDE = ("-r", "--requirement")
_CONSTRAINT = ("-c", "--constraint")
_EDITABLE = ("-e", "--editable")
_EXTRA_INDEX = ("--extra-index-url",)
_INDEX = ("-i", "--index-url")
_TAKES_VALUE = (*_INCLUDE, *_CONSTRAINT, *_EDITABLE, *_EXTRA_INDEX, *_INDEX, "-f", "--find-links",
                "--trusted-host", "--no-binary", "--only-binary", "--use-feature", "--hash",
                "--config-settings", "--global-option")


@dataclass
class ParsedRequirements:
    """Every requirement reached from the root file(s), with the file-wide options seen."""

    dependencies: list[Dependency] = field(default_factory=list)
    extra_index_urls: list[tuple[str, str]] = field(default_factory=list)  # (location, url)
    require_hashes: bool = False
    files: list[Path] = field(default_factory=list)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with continuations joined and comments dropped, each with its first line number."""
    out: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not buffer:
            start = number
        if raw.endswith("\\"):
            buffer += raw[:-1]
            continue
        line = _COMMENT.sub("", buffer + raw).strip()
        buffer = ""
        if line:
            out.append((start, line))
    if buffer.strip():
        out.append((start, _COMMENT.sub("", buffer).strip()))
    return out


def _options(tokens: list[str]) -> list[tuple[str, str | None]]:
    """``[("--hash", "sha256:..."), ("--pre", None)]`` from ``-x v``, ``-xv``, ``--x=v``, ``--x v``."""
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, eq, value = token.partition("=")
        if eq and name.startswith("--"):
            out.append((name, value))
        elif token in _TAKES_VALUE:
            out.append((token, tokens[i + 1] if i + 1 < len(tokens) else None))
            i += 1
        elif re.match(r"^-[rceif]\S", token):  # -rfile, -efile
            out.append((token[:2], token[2:]))
        else:
            out.append((token, None))
        i += 1
    return out


def _name_from_url(url: str) -> str:
    egg = _EGG.search(url)
    if egg:
        return egg.group(1)
    path = unquote(urlsplit(url.split("+", 1)[-1] if "+" in url.split("://")[0] else url).path)
    leaf = path.rstrip("/").rsplit("/", 1)[-1]
    match = _DIST_FILE.match(leaf)
    return match.group(1) if match else (leaf or url)


def _unpinnable(spec: str, source: str, line: int, hashes: tuple[str, ...], *, editable: bool) -> Dependency:
    """A URL, VCS link or local path: no version we can look up, often nothing we can hash."""
    name = _name_from_url(spec) if _URL.match(spec) else Path(spec.rstrip("/")).name or spec
    return Dependency(name=name, version=None, source=source, line=line, url=spec, editable=editable, hashes=hashes)


def _requirement(text: str, source: str, line: int, hashes: tuple[str, ...]) -> Dependency:
    local_archive = "@" not in text and text.endswith((".whl", ".zip", ".tar.gz"))
    if _URL.match(text) or text.startswith((".", "/", "~")) or local_archive:
        return _unpinnable(text, source, line, hashes, editable=False)
    try:
        req = Requirement(text)
    except InvalidRequirement as err:
        raise ArtifactError(f"{source}:{line}: not a valid requirement: {text!r} ({err})") from None
    specs = list(req.specifier)
    version = None
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        version = specs[0].version
    return Dependency(
        name=req.name,
        version=None if req.url else version,
        source=source,
        line=line,
        specifier=str(req.specifier),
        extras=tuple(sorted(req.extras)),
        marker=str(req.marker) if req.marker else None,
        url=req.url,
        hashes=hashes,
    )


def _read(path: Path, shown: str, where: str | None) -> str:
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        prefix = f"{where}: " if where else ""
        raise ArtifactError(f"{prefix}requirements file not found: {shown}") from None
    except IsADirectoryError:
        raise ArtifactError(f"{shown}: is a folder, expected a requirements file") from None
    except UnicodeDecodeError:
        raise ArtifactError(f"{shown}: not a UTF-8 text file") from None
    except OSError as err:
        raise ArtifactError(f"{shown}: cannot read the requirements file ({err.strerror})") from None


def parse_requirements(*paths: Path | str, display_base: Path | None = None) -> ParsedRequirements:
    """Parse one or more root files (as pip does with several ``-r``); includes are followed once."""
    parsed = ParsedRequirements()
    seen: set[Path] = set()
    for path in paths:
        _parse_file(Path(path), parsed, seen, None, display_base)
    return parsed


def _display(path: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def _parse_file(path: Path, parsed: ParsedRequirements, seen: set[Path], where: str | None, base: Path | None) -> None:
    shown = _display(path, base)
    text = _read(path, shown, where)
    resolved = path.resolve()
    if resolved in seen:  # an include cycle, or the same file twice: pip reads it once in effect
        return
    seen.add(resolved)
    parsed.files.append(path)
    for number, line in _logical_lines(text):
        tokens = line.split()
        first_option = next((i for i, t in enumerate(tokens) if t.startswith("-")), len(tokens))
        requirement = " ".join(tokens[:first_option])
        options = _options(tokens[first_option:])
        hashes = tuple(v for k, v in options if k == "--hash" and v)
        if requirement:
            parsed.dependencies.append(_requirement(requirement, shown, number, hashes))
            continue
        for option, value in options:
            here = f"{shown}:{number}"
            if option in _INCLUDE:
                if not value:
                    raise ArtifactError(f"{here}: {option} needs a file name")
                _parse_file(path.parent / value, parsed, seen, here, base)
            elif option in _EDITABLE:
                if not value:
                    raise ArtifactError(f"{here}: {option} needs a path or URL")
                parsed.dependencies.append(_unpinnable(value, shown, number, hashes, editable=True))
            elif option in _EXTRA_INDEX and value:
                parsed.extra_index_urls.append((here, value))
            elif option == "--require-hashes":
                parsed.require_hashes = True
