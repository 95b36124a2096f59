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

import pandas as pd
from sqlalchemy import Text, cast, select, update

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


def complete(store: Store, frame: pd.DataFrame, needs: set[str]) -> pd.DataFrame:
    """Fills in a chunk read with the cache's columns (and `_cached`, the cache row's id) the rows the cache does
    not hold yet: their fields are derived (and stored) now. Returns the frame without `_cached`."""
    todo = frame["_cached"].isna()
    for part in ("prompt", "output"):
        if f"{part}_tokens" in needs:
            todo |= frame[f"{part}_chars"].notna() & frame[f"{part}_tokens"].isna()
    if todo.any():
        found = fill(store, frame.loc[todo, "id"].astype("int64").tolist(), needs)
        rows = frame.index[todo]
        for column in frame.columns:
            if column in DERIVED:
                frame[column] = frame[column].astype(object)
                frame.loc[rows, column] = [found[int(i)][column] for i in frame.loc[rows, "id"]]
    return frame.drop(columns="_cached")


def fill(store: Store, event_ids: list[int], needs: set[str]) -> dict[int, dict]:
    """Derives and stores the text fields of these events where the cache has none yet, and their token counts
    where `needs` asks for them; returns every derived field of each event."""
    tokens = [part for part in ("prompt", "output") if f"{part}_tokens" in needs]
    found: dict[int, dict] = {}
    for start in range(0, len(event_ids), _FILL_CHUNK):
        ids = event_ids[start:start + _FILL_CHUNK]
        with store.engine.connect() as connection:
            rows = [row for piece in range(0, len(ids), _IDS_CHUNK) for row in connection.execute(
                select(E.id, cast(E.input, Text), E.output, T.event_id, *[getattr(T, n) for n in DERIVED])
                .select_from(E).outerjoin(T, T.event_id == E.id).where(E.id.in_(ids[piece:piece + _IDS_CHUNK])))]
        new, texts = [], {}
        for event_id, raw_input, output, cached, *values in rows:
            known = dict(zip(DERIVED, values))
            if cached is None or tokens:
                texts[event_id] = {"prompt": prompt_text(raw_input), "output": output}
            if cached is None:
                prompt = texts[event_id]["prompt"]
                known.update(zip(LENGTHS, (*_lengths(prompt), *_lengths(output))))
                new.append({"event_id": event_id, **{n: known[n] for n in LENGTHS}})
            found[event_id] = known
        token_rows = []
        for part in tokens:
            wanted = [i for i, known in found.items() if i in texts and known[f"{part}_tokens"] is None
                      and texts[i][part] is not None]
            counts = _token_counts(store, [str(texts[i][part]) for i in wanted])
            for event_id, count in zip(wanted, counts):
                found[event_id][f"{part}_tokens"] = int(count)
            token_rows.append((f"{part}_tokens", [{"id": i, "n": int(n)} for i, n in zip(wanted, counts)]))
        with store.write() as session:
            connection = session.connection()
            if new:  # a concurrent run may have filled some meanwhile: those are kept, the rest inserted
                connection.execute(_insert(connection).on_conflict_do_nothing(index_elements=["event_id"]), new)
            for column, values in token_rows:
                if values:
                    connection.execute(update(T).where(T.event_id == _bind("id")).values({column: _bind("n")}),
                                       values)
    return found


def _insert(connection):
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(T)


def _bind(name: str):
    from sqlalchemy import bindparam

    return bindparam(name)


def _token_counts(store: Store, texts: list[str]) -> list[int]:
    from core.data.textstats import token_lengths
    from core.models import bundled

    models_dir = store.settings.models_dir
    if models_dir is None or not bundled.is_installed(models_dir, bundled.CHAT_MODEL):
        raise InvalidInput("Token counts need the bundled chat model's tokenizer; run `workbench init`.")
    if not texts:
        return []
    return token_lengths(texts, str(bundled.store_path(models_dir, bundled.CHAT_MODEL))).tolist()


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
