"""A zip of a folder of text, Markdown and HTML files, unpacked for the folder importer with
every entry bounded: no path outside the target, no links, no more than MAX_ZIP_ENTRIES
files nor MAX_ZIP_BYTES unpacked (a zip bomb is refused before it fills the disk)."""

import zipfile
from pathlib import Path, PurePosixPath

from .errors import ImportFileError
from .limits import MAX_RECORD_BYTES, MAX_ZIP_BYTES, MAX_ZIP_ENTRIES, MIB

CHUNK = 1 << 16


def zip_unpack(*, path: Path, target: Path) -> Path:
    """Unpack the zip at `path` into `target` (created); returns `target`. An ImportFileError
    names the zip and the entry that broke a bound."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFileError(path, None, None, f"not a readable zip file ({exc})") from None
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_ENTRIES:
            raise ImportFileError(path, None, None, f"more than {MAX_ZIP_ENTRIES} files in the zip")
        for member in members:
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or "\x00" in member.filename:
                raise ImportFileError(path, None, member.filename, "an entry outside the zip's folder")
            if (member.external_attr >> 16) & 0o170000 == 0o120000:
                raise ImportFileError(path, None, member.filename, "a symbolic link (not followed)")
            out = target.joinpath(*name.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with archive.open(member) as source, open(out, "wb") as sink:
                    while chunk := source.read(CHUNK):
                        written += len(chunk)
                        total += len(chunk)
                        if written > MAX_RECORD_BYTES:
                            raise ImportFileError(path, None, member.filename,
                                                  f"a file over {MAX_RECORD_BYTES // MIB} MiB unpacked")
                        if total > MAX_ZIP_BYTES:
                            raise ImportFileError(path, None, member.filename,
                                                  f"the zip unpacks to over {MAX_ZIP_BYTES // MIB} MiB")
                        sink.write(chunk)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                raise ImportFileError(path, None, member.filename, f"cannot unpack this entry ({exc})") from None
    return target
