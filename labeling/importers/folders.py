"""A folder of .txt, .md and .html files to document records.

Markdown and text files may start with YAML front matter; HTML files carry their metadata
in <title> and <meta name=... content=...>. The external id is the path relative to the
folder, so re-importing the same folder updates in place.

Only regular files are read, and a link only where it points at a regular file inside the
folder: a link out of it (to /etc/passwd, or the app's own secret key), a dangling link, a
FIFO or a device is skipped and reported, never opened.
"""

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from .errors import ImportFileError
from .html_text import html_record
from .limits import MAX_FRONT_MATTER_BYTES, MAX_INTEGER_DIGITS, MAX_NESTING
from .readers import decode_file, read_regular

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES

HEADING = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
YAML_KEY = re.compile(r"^([^\s#:][^:]*):")

Skip = Callable[[str, str], None]  # (why, path relative to the folder): an entry not read


class FolderFile(NamedTuple):
    path: Path  # as found in the folder (a link's own path), for messages and the file type
    relative: str  # path relative to the folder with forward slashes: the external id
    source: Path  # what to read: the file itself, or the regular file a link inside the folder points at


def folder_files(root: Path, skip: Skip) -> Iterator[FolderFile]:
    """The folder's documents, sorted, depth first; hidden entries ('.git', '.DS_Store') are
    left out silently and every other entry not read goes to `skip`. One folder listed at a
    time, so a huge tree is never held in memory at once."""
    real_root = root.resolve()
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted((e for e in listing if not e.name.startswith(".")), key=lambda e: e.name)
        except OSError as exc:
            raise ImportFileError(folder, None, None, f"cannot be listed ({exc.strerror})") from None
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            relative = path.relative_to(root).as_posix()
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(path)
            elif (source := _source(entry, real_root, relative, skip)) is not None:
                if path.suffix.lower() in SUFFIXES:
                    yield FolderFile(path, relative, source)
                else:
                    skip(f"files skipped, not {', '.join(sorted(SUFFIXES))}", relative)
        folders.extend(reversed(subfolders))


def _source(entry: os.DirEntry[str], real_root: Path, relative: str, skip: Skip) -> Path | None:
    """The regular file to read for a folder entry, or None (reported to `skip`)."""
    if not entry.is_symlink():
        if entry.is_file(follow_symlinks=False):
            return Path(entry.path)
        skip("entries skipped, not regular files (a FIFO, socket or device)", relative)
        return None
    target = Path(os.path.realpath(entry.path))
    if not target.is_relative_to(real_root):
        skip("links skipped, pointing out of the folder", relative)
    elif not target.exists():
        skip("links skipped, pointing at nothing", relative)
    elif target.is_dir():
        skip("links to folders skipped (not followed)", relative)
    elif not target.is_file():
        skip("entries skipped, not regular files (a FIFO, socket or device)", relative)
    else:
        return target
    return None


def file_record(file: Path, source: Path | None = None) -> tuple[dict[str, Any], dict[str, int], str]:
    """(metadata, line of each metadata key, text) of one file; `source` is what to read where
    `file` is a link inside the folder (never followed again: O_NOFOLLOW)."""
    if source is None:
        raw = read_regular(file)  # a file named on the command line: a link to it is the user's choice
    else:
        raw = read_regular(source, follow_links=False)
    content = decode_file(file, raw)
    if file.suffix.lower() in HTML_SUFFIXES:
        return html_record(content)
    meta, lines, body = front_matter(file, content)
    if "title" not in meta and (heading := HEADING.search(body)):
        meta["title"] = heading.group(1)[:500]  # derived, so cut to the column rather than refused
    return meta, lines, body.strip()


def front_matter(file: Path, content: str) -> tuple[dict[str, Any], dict[str, int], str]:
    """YAML between a first line '---' and the next '---' (or '...'); none is fine."""
    lines = content.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return {}, {}, content
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:  # a leading horizontal rule, not front matter
        return {}, {}, content
    source = "".join(lines[1:end])
    if len(source.encode("utf-8", "surrogatepass")) > MAX_FRONT_MATTER_BYTES:
        raise ImportFileError(file, 2, "front matter", f"is over {MAX_FRONT_MATTER_BYTES // 1024} KiB")
    try:
        meta = yaml.load(source, Loader=_FrontMatterLoader) or {}  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 2
        problem = getattr(exc, "problem", None) or exc
        raise ImportFileError(file, line, "front matter", f"bad YAML ({problem})") from None
    except (ValueError, RecursionError) as exc:  # a conversion PyYAML does not locate
        raise ImportFileError(file, 2, "front matter", f"bad YAML ({exc})") from None
    if not isinstance(meta, dict):
        raise ImportFileError(file, 2, "front matter", "expected 'key: value' lines")
    key_lines = {m.group(1).strip(): i + 1 for i in range(1, end) if (m := YAML_KEY.match(lines[i]))}
    return {str(k): v for k, v in meta.items()}, key_lines, "".join(lines[end + 1:])


class _FrontMatterLoader(yaml.SafeLoader):
    """safe_load's loader, bounded: no aliases (422 bytes of nested aliases expand to 58 MB, and
    an alias inside its own anchor makes a value that contains itself), nesting and integers
    bounded, and an impossible date (2025-13-45) kept as text so the date check names its line."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise ComposerError(None, None, "aliases (*name) are not allowed in front matter", _mark(event))
        if self.depth >= MAX_NESTING:
            raise ComposerError(None, None, f"nested more than {MAX_NESTING} levels deep", _mark(event))
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_yaml_int(self, node: Any) -> int:
        if len(node.value) > MAX_INTEGER_DIGITS:
            digits = f"a number of {len(node.value)} digits (at most {MAX_INTEGER_DIGITS})"
            raise ConstructorError(None, None, digits, node.start_mark)
        return super().construct_yaml_int(node)

    def construct_yaml_timestamp(self, node: Any) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return self.construct_scalar(node)


def _mark(event: Any) -> Any:
    return event.start_mark  # a yaml.error.Mark here (the pure-Python loader)


_FrontMatterLoader.add_constructor("tag:yaml.org,2002:int", _FrontMatterLoader.construct_yaml_int)
_FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", _FrontMatterLoader.construct_yaml_timestamp)
