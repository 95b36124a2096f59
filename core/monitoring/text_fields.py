"""Text fields derived once per event and kept in `EventTextStat`, so monitor runs read numbers, not JSON.

A monitor over prompt or output length used to decode every event's JSON input on every run. Now the first read
of an event derives its prompt (the last user message, as core.monitoring.sources.prompt_of) and output lengths in
characters and words and stores them; later runs, and the windows of the same run, read the cached numbers with
SQL. Events not seen yet (new traffic) are filled in when a read meets them. Token counts (the bundled chat
model's tokenizer) are filled the first time a monitor asks for them; the prompt's language and personal-data flag
when a drift sample first holds the event (those fields are computed on each side's bounded sample).
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import Text, cast, or_, select, update

from core.errors import InvalidInput
from core.storage.db import Store
from core.storage.tables import EventTextStat as T, InferenceEvent as E

LENGTHS = ("prompt_chars", "prompt_words", "output_chars", "output_words")
TOKENS = ("prompt_tokens", "output_tokens")
DERIVED = LENGTHS + TOKENS  # numeric fields read from the cache for events
_FILL_CHUNK = 20_000
_IDS_CHUNK = 900


def prompt_text(raw) -> str | None:
    """The prompt of an event's input as stored (JSON text, or already decoded)."""
    from core.monitoring.sources import prompt_of

    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return raw
    return prompt_of(raw)


def _lengths(text: str | None) -> tuple[int | None, int | None]:
    return (None, None) if text is None else (len(text), len(text.split()))


def missing_condition(needs: Iterable[str]):
    """Rows of a LEFT JOIN of events with the cache that still need work for the fields in `needs`."""
    wanted = [T.event_id.is_(None)]
    for part in ("prompt", "output"):
        if f"{part}_tokens" in needs:
            wanted.append((getattr(T, f"{part}_chars").is_not(None)) & getattr(T, f"{part}_tokens").is_(None))
    return or_(*wanted)


def fill(store: Store, base_filter, needs: set[str]) -> int:
    """Derives and stores the text fields of the events matching `base_filter` (a function adding WHERE clauses
    to a select over InferenceEvent) that have none yet, and their token counts where `needs` asks for them.
    Returns how many events were worked on."""
    tokens = [part for part in ("prompt", "output") if f"{part}_tokens" in needs]
    query = base_filter(
        select(E.id, cast(E.input, Text), E.output, T.event_id, T.prompt_chars, T.output_chars)
        .select_from(E).outerjoin(T, T.event_id == E.id)
    ).where(missing_condition(needs)).order_by(E.id)
    done = 0
    last = 0
    while True:
        with store.engine.connect() as connection:
            rows = connection.execute(query.where(E.id > last).limit(_FILL_CHUNK)).all()
        if not rows:
            return done
        new, token_rows = [], []
        for event_id, raw_input, output, cached, _, _ in rows:
            if cached is None:
                prompt = prompt_text(raw_input)
                new.append({"event_id": event_id, **dict(zip(LENGTHS, (*_lengths(prompt), *_lengths(output))))})
        if tokens:
            token_rows = _token_counts(store, rows, tokens)
        with store.write() as session:
            connection = session.connection()
            if new:  # a concurrent run may have filled some meanwhile: those are kept, the rest inserted
                connection.execute(_insert(connection).on_conflict_do_nothing(index_elements=["event_id"]), new)
            for column, values in token_rows:
                connection.execute(update(T).where(T.event_id == _bind("id")).values({column: _bind("n")}),
                                   values)
        done += len(rows)
        last = rows[-1][0]
        if len(rows) < _FILL_CHUNK:
            return done


def _insert(connection):
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(T)


def _bind(name: str):
    from sqlalchemy import bindparam

    return bindparam(name)


def _token_counts(store: Store, rows, parts: list[str]) -> list[tuple[str, list[dict]]]:
    from core.data.textstats import token_lengths
    from core.models import bundled

    models_dir = store.settings.models_dir
    if models_dir is None or not bundled.is_installed(models_dir, bundled.CHAT_MODEL):
        raise InvalidInput("Token counts need the bundled chat model's tokenizer; run `workbench init`.")
    folder = str(bundled.store_path(models_dir, bundled.CHAT_MODEL))
    out = []
    for part in parts:
        ids, texts = [], []
        for event_id, raw_input, output, cached, prompt_chars, output_chars in rows:
            text = prompt_text(raw_input) if part == "prompt" else output
            if text is not None:
                ids.append(event_id)
                texts.append(str(text))
        if texts:
            counts = token_lengths(texts, folder)
            out.append((f"{part}_tokens", [{"id": i, "n": int(n)} for i, n in zip(ids, counts)]))
    return out


def texts_of(store: Store, part: str, event_ids: Iterable[int]) -> dict[int, str | None]:
    """The prompt or output text of the given events (for a drift sample), read by id."""
    ids = [int(i) for i in event_ids]
    column = cast(E.input, Text) if part == "prompt" else E.output
    found: dict[int, str | None] = {}
    with store.engine.connect() as connection:
        for start in range(0, len(ids), _IDS_CHUNK):
            for event_id, raw in connection.execute(select(E.id, column).where(E.id.in_(ids[start:start + _IDS_CHUNK]))):
                found[event_id] = prompt_text(raw) if part == "prompt" else raw
    return found


# --- sampled fields of the prompt (language, personal data), cached per event once computed -----------------

SAMPLED_CACHE = {"prompt_language": "prompt_language", "prompt_pii": "prompt_pii"}


def cached_sampled(store: Store, name: str, event_ids: list[int]) -> dict[int, object]:
    column = getattr(T, SAMPLED_CACHE[name])
    found = {}
    with store.engine.connect() as connection:
        for start in range(0, len(event_ids), _IDS_CHUNK):
            chunk = [int(i) for i in event_ids[start:start + _IDS_CHUNK]]
            found.update(connection.execute(select(T.event_id, column).where(T.event_id.in_(chunk),
                                                                             column.is_not(None))).all())
    return found


def store_sampled(store: Store, name: str, values: dict[int, object]) -> None:
    if not values:
        return
    column = SAMPLED_CACHE[name]
    with store.write() as session:
        session.connection().execute(update(T).where(T.event_id == _bind("id")).values({column: _bind("v")}),
                                     [{"id": int(i), "v": v} for i, v in values.items()])
