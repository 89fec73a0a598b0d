"""The accounts' FTP homes on the local (or shared) file system:

    <root>/<account id>/import/<list id>/          files posted for the daily import
    <root>/<account id>/import/<list id>/done/     imported files, each with its report
    <root>/<account id>/import/<list id>/failed/   unreadable files, each with its report
    <root>/<account id>/export/                    unsubscriber exports

Every worker running the daily sync must see the same root as the FTP server."""
from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Iterable
from typing import IO

from mailup_soap.service_layer.ports import DroppedFile

# Our FTP server writes an upload under this prefix and renames it when the transfer ends
# (ProFTPD's HiddenStores), so a file still being uploaded is never taken.
UPLOADING_PREFIX = ".uploading."
REPORT_SUFFIX = ".report.txt"


class LocalFileDrop:
    def __init__(self, root: str | os.PathLike[str], settle_seconds: int = 60) -> None:
        self.root = pathlib.Path(root).resolve()
        self.settle_seconds = settle_seconds

    def home(self, account_id: int) -> pathlib.Path:
        return self.root / str(int(account_id))

    def prepare_home(self, account_id: int, list_ids: Iterable[int]) -> None:
        home = self.home(account_id)
        (home / "export").mkdir(parents=True, exist_ok=True)
        (home / "import").mkdir(exist_ok=True)
        for list_id in list_ids:
            for sub in ("done", "failed"):
                (home / "import" / str(int(list_id)) / sub).mkdir(parents=True, exist_ok=True)

    def ready_files(self, account_id: int) -> list[DroppedFile]:
        imports = self.home(account_id) / "import"
        if not imports.is_dir():
            return []
        settled_before = time.time() - self.settle_seconds
        found: list[tuple[float, DroppedFile]] = []
        for folder in imports.iterdir():
            if not (folder.name.isascii() and folder.name.isdigit() and folder.is_dir()):
                continue
            for path in folder.iterdir():
                if path.name.startswith(".") or path.is_symlink() or not path.is_file():
                    continue
                stat = path.stat()
                if stat.st_mtime > settled_before:
                    continue  # still arriving by some other way than our FTP server
                found.append((stat.st_mtime, DroppedFile(account_id, int(folder.name),
                                                         path.name, stat.st_size)))
        return [f for _, f in sorted(found, key=lambda item: (item[0], item[1].name))]

    def _path(self, file: DroppedFile) -> pathlib.Path:
        return self.home(file.account_id) / "import" / str(file.list_id) / _plain(file.name)

    def open(self, file: DroppedFile) -> IO[bytes]:
        return self._path(file).open("rb")

    def finish(self, file: DroppedFile, outcome: str, report: str) -> str:
        if outcome not in ("done", "failed"):
            raise ValueError(f"unknown outcome {outcome!r}")
        source = self._path(file)
        folder = source.parent / outcome
        folder.mkdir(exist_ok=True)
        target = folder / source.name
        counter = 1
        while target.exists() or target.with_name(target.name + REPORT_SUFFIX).exists():
            counter += 1  # the same name posted again (a daily file): keep both
            target = folder / f"{source.stem}.{counter}{source.suffix}"
        report_path = target.with_name(target.name + REPORT_SUFFIX)
        _write_atomically(report_path, [report])
        os.replace(source, target)
        return str(report_path.relative_to(self.home(file.account_id)))

    def open_file(self, account_id: int, path: str) -> IO[bytes]:
        home = self.home(account_id)
        target = (home / path.strip().lstrip("/")).resolve()
        if not target.is_relative_to(home) or target == home:
            raise ValueError(f"{path!r} is not a file of the account's FTP site")
        if not target.is_file():
            raise FileNotFoundError(path)
        return target.open("rb")

    def write_export(self, account_id: int, name: str, lines: Iterable[str]) -> str:
        folder = self.home(account_id) / "export"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / _plain(name)
        _write_atomically(target, lines)
        return str(target.relative_to(self.home(account_id)))


def _plain(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise ValueError(f"not a plain file name: {name!r}")
    return name


def _write_atomically(target: pathlib.Path, chunks: Iterable[str]) -> None:
    """Write beside the target under a hidden name, then rename: an FTP reader sees the whole
    file or none of it, and the sync never takes a half-written one."""
    temporary = target.with_name(f".{target.name}.part")
    try:
        with temporary.open("w", encoding="utf-8", newline="") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
