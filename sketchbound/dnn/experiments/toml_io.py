"""TOML in and out for configs and table files: :func:`read_toml` (errors that name the file),
:func:`run_table` (a run file's ``[run]`` table) and :func:`to_toml` (the writer whose output
``tomllib`` reads back)."""
from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

__all__ = ["read_toml", "run_table", "to_toml"]


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file (``tomllib``); ``FileNotFoundError``/``ValueError`` with the path in the message.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    dict

    Examples
    --------
    >>> read_toml("no/such/file.toml")
    Traceback (most recent call last):
    ...
    FileNotFoundError: config file no/such/file.toml not found
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {p} not found")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{p}: invalid TOML: {e}") from e
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: not a TOML text file (byte {e.start} is not UTF-8: binary?)") from None
    except OSError as e:
        raise ValueError(f"{p}: cannot be read ({e.strerror or e})") from None


def run_table(d: dict, where="config") -> dict:
    """The run fields of a parsed config file: its ``[run]`` table, or the whole file when it has none.

    A ``[run]`` that is not a table, or top-level keys *beside* a ``[run]`` table (they would be ignored
    silently), are errors naming the file.

    Parameters
    ----------
    d : dict
        A parsed config file (:func:`read_toml`).
    where : str
        What to name in an error (the file's path).

    Returns
    -------
    dict
        The run fields.

    Examples
    --------
    >>> run_table({"run": {"model": "vgg19"}}), run_table({"model": "vgg19"})
    ({'model': 'vgg19'}, {'model': 'vgg19'})
    >>> run_table({"run": {"model": "vgg19"}, "seed": 1}, "a.toml")
    Traceback (most recent call last):
    ...
    ValueError: a.toml: keys ['seed'] stand beside the [run] table and would be ignored; put them inside [run]
    """
    if "run" not in d:
        return d
    if not isinstance(d["run"], dict):
        raise ValueError(f"{where}: 'run' must be a table ([run]), got {type(d['run']).__name__} {d['run']!r}")
    beside = sorted(k for k in d if k != "run")
    if beside:
        raise ValueError(f"{where}: keys {beside} stand beside the [run] table and would be ignored; "
                         f"put them inside [run]")
    return d["run"]


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise ValueError(f"cannot write {type(v).__name__} value {v!r} to TOML")


def _toml_key(k: str) -> str:
    return k if k and all(c.isalnum() or c in "-_" for c in k) else json.dumps(k, ensure_ascii=False)


def to_toml(d: dict, _prefix: str = "") -> str:
    """Write a dict as TOML: scalars/lists/inline tables first, then nested tables (``None`` values dropped).
    Lists of dicts become arrays of tables. Round-trips through :func:`tomllib.loads` for the types used here.

    Parameters
    ----------
    d : dict
        The data.

    Returns
    -------
    str

    Examples
    --------
    >>> print(to_toml({"density": 0.1, "seed": None, "run": {"model": "vgg19"}}), end="")
    density = 0.1
    <BLANKLINE>
    [run]
    model = "vgg19"
    """
    lines, tables = [], []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, dict) for x in v):
            tables.append((k, list(v)))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    out = "\n".join(lines)
    for k, v in tables:
        name = f"{_prefix}.{_toml_key(k)}" if _prefix else _toml_key(k)
        if isinstance(v, list):
            for item in v:
                out += f"\n\n[[{name}]]\n" + to_toml(item, name).rstrip("\n")
        else:
            out += f"\n\n[{name}]\n" + to_toml(v, name).rstrip("\n")
    return out.strip("\n") + "\n"
