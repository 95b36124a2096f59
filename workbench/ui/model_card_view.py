"""The model card on the Models page: the card's sections as tables and plain text, the editable intended use and
limitations, Markdown and HTML downloads, and the cards frozen when deployment versions were promoted."""
from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlmodel import col, select

from core.governance import model_cards
from core.governance.roles import Actor, Permission
from core.storage.db import Store
from core.storage.tables import ModelCard
from workbench.ui.text import inert


def _render(card: dict, key: str) -> None:
    for title, body in model_cards._sections(card):
        st.markdown(f"**{inert(title)}**")
        if isinstance(body, str):
            st.text(body)
        else:
            st.dataframe(pd.DataFrame(body, columns=["", " "]), hide_index=True, width="stretch")
    c1, c2 = st.columns(2)
    c1.download_button("Markdown", model_cards.to_markdown(card), file_name=f"{card['model']}-card.md",
                       mime="text/markdown", key=f"{key}.md")
    c2.download_button("HTML", model_cards.to_html(card), file_name=f"{card['model']}-card.html", mime="text/html",
                       key=f"{key}.html")


def _frozen(store: Store, model: str) -> list[ModelCard]:
    with store.read() as session:
        return list(session.exec(select(ModelCard).where(ModelCard.model == model, col(ModelCard.frozen_at).is_not(None))
                                 .order_by(col(ModelCard.frozen_at).desc())))


def show(store: Store, actor: Actor, model: str) -> None:
    """The card of `model`, with an edit form for those who manage models."""
    card = model_cards.build_card(store, actor=actor, model=model)
    with st.expander("Model card", expanded=False):
        if actor.can(Permission.MANAGE_MODELS):
            with st.form(f"models.card.{model}"):
                intended = st.text_area("Intended use", card.get("intended_use") or "", key=f"models.card.use.{model}")
                limits = st.text_area("Limitations", card.get("limitations") or "", key=f"models.card.limits.{model}")
                if st.form_submit_button("Save card text"):
                    model_cards.set_card_text(store, actor=actor, model=model, intended_use=intended,
                                              limitations=limits)
                    st.rerun()
        _render(card, key=f"models.card.{model}")
        frozen = _frozen(store, model)
        if frozen:
            labels = {f"{row.deployment}@{row.deployment_version}": row for row in frozen}
            picked = st.selectbox("Card frozen at promotion of", list(labels), key=f"models.card.frozen.{model}")
            _render(labels[picked].content, key=f"models.card.frozen.{model}.{picked}")
