"""Read back what a W&B run wrote to its transaction log (`run-<id>.wandb`), without a server.

The file is a LevelDB-style log: a 7-byte W&B header, then 32 KiB blocks of chunks, each with a
7-byte header (CRC32C, length, type: 1 full, 2 first, 3 middle, 4 last) and a piece of a
serialised ``wandb_internal.Record`` protobuf.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

_BLOCK = 32 * 1024
_FILE_HEADER = 7
_CHUNK_HEADER = 7


def read_records(path: str | Path) -> list:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    records, pending, pos = [], b"", _FILE_HEADER
    while pos + _CHUNK_HEADER <= len(data):
        left_in_block = _BLOCK - pos % _BLOCK
        if left_in_block < _CHUNK_HEADER:  # block trailer padding
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _CHUNK_HEADER])
        pos += _CHUNK_HEADER
        if length == 0 and kind == 0:  # zero padding to the end of the block
            pos += left_in_block - _CHUNK_HEADER
            continue
        if pos + length > len(data):
            raise AssertionError(f"{path} ends inside a record: read it after the W&B run's process has closed it")
        pending += data[pos : pos + length]
        pos += length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def run_summary(path: str | Path) -> dict:
    """The run's name, group and the sets of metric names it logged to its history and its summary."""
    info = {"name": None, "group": None, "history_keys": set(), "summary_keys": set()}
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            info["name"], info["group"] = record.run.display_name, record.run.run_group
        elif kind == "history":
            info["history_keys"].update(item.key or "/".join(item.nested_key) for item in record.history.item)
        elif kind == "summary":
            info["summary_keys"].update(item.key or item.nested_key[0] for item in record.summary.update)
    return info


def log_summary(path: str | Path) -> dict:
    """The run's project and name, and the W&B Tables it logged: key -> file below the run's ``files/``."""
    info = {"project": None, "name": None, "tables": {}}
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            info["project"], info["name"] = record.run.project, record.run.display_name
        elif kind == "history":
            for item in record.history.item:
                if len(item.nested_key) == 2 and item.nested_key[1] == "path":
                    info["tables"][item.nested_key[0]] = json.loads(item.value_json)
    return info
