"""LangChain's ChatOpenAI against a real `workbench serve` process, unchanged: invoke and stream."""
import pytest

from tests.core.serving.conftest import CHAT
from tests.core.serving.test_app import QUESTION, _event_for

pytestmark = pytest.mark.slow


def test_langchain_chat_openai_invokes_and_streams(served):
    from langchain_openai import ChatOpenAI

    direct = served.client().chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=12)
    llm = ChatOpenAI(base_url=served.base_url, api_key=served.keys["app"], model=CHAT, max_tokens=12,
                     temperature=0, max_retries=0, timeout=300)
    reply = llm.invoke(QUESTION[0]["content"])
    assert reply.content == direct.choices[0].message.content
    assert reply.usage_metadata["output_tokens"] == direct.usage.completion_tokens
    event = _event_for(served, reply.response_metadata["id"])  # the server's chatcmpl- id
    assert (event.application, event.endpoint, event.output) == ("app", "chat", reply.content)

    chunks = list(llm.stream(QUESTION[0]["content"]))
    assert "".join(chunk.content for chunk in chunks) == direct.choices[0].message.content
    assert sum(1 for chunk in chunks if chunk.content) >= 2  # token by token
