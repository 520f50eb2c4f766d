"""Request bounds without a server: the queue answers 429 at once when full (no
unbounded waiting), and field checks name the field, the value and the range."""

from __future__ import annotations

import asyncio

import pytest

from genforge.serving.bounds import Fields, HttpError, Limiter, parse_object


def test_a_full_queue_is_refused_at_once_and_slots_are_given_back():
    async def scenario():
        limiter = Limiter(concurrent=1, queue=1)
        release = asyncio.Event()
        order = []

        async def hold(name):
            async with limiter.slot():
                order.append(name)
                await release.wait()

        first = asyncio.create_task(hold("first"))
        await asyncio.sleep(0)
        second = asyncio.create_task(hold("second"))  # waits in the queue
        await asyncio.sleep(0)
        assert (limiter.active, limiter.waiting) == (1, 1)
        with pytest.raises(HttpError) as refused:
            async with limiter.slot():
                pass
        release.set()
        await asyncio.gather(first, second)
        assert order == ["first", "second"] and (limiter.active, limiter.waiting) == (0, 0)
        async with limiter.slot():  # free again
            pass
        return refused.value

    refused = asyncio.run(scenario())
    assert refused.status == 429 and refused.code == "RESOURCE_EXHAUSTED"
    assert "serve.max_concurrent 1, serve.max_queue 1" in refused.message


CAPS = {"conditional": True, "num_classes": 4}


@pytest.mark.parametrize(
    ("values", "call", "message"),
    [
        ({"n": 0}, lambda f: f.integer("n", 16, 1, 8), "n must be in [1, 8], got 0"),
        ({"n": "3"}, lambda f: f.integer("n", 16, 1, 8), None),  # query strings are text
        ({"n": True}, lambda f: f.integer("n", 16, 1, 8), "n must be an integer, got True"),
        ({"t": "x"}, lambda f: f.number("t", 0, 1), "t must be a number, got 'x'"),
        ({"t": float("nan")}, lambda f: f.number("t", 0, 1), "t must be a number"),
        ({"label": 4}, lambda f: f.label(CAPS), "unknown label 4; this model knows 0..3"),
        ({"label": "red"}, lambda f: f.label(CAPS), "label must be an integer class or null"),
    ],
)
def test_field_checks_name_the_problem(values, call, message):
    fields = Fields(values, ("n", "t", "label"))
    if message is None:
        assert call(fields) == 3
        return
    with pytest.raises(HttpError, match=None) as info:
        call(fields)
    assert info.value.status == 400 and message in info.value.message


def test_an_unconditional_model_takes_no_label_and_bodies_must_be_objects():
    with pytest.raises(HttpError, match="unconditional; label must be null"):
        Fields({"label": 1}, ("label",)).label({"conditional": False, "num_classes": 1})
    with pytest.raises(HttpError, match="unknown field"):
        Fields({"colour": 1}, ("n",))
    assert parse_object(b"") == {}
    for body, message in ((b"[1]", "must be a JSON object"), (b"{", "malformed JSON body")):
        with pytest.raises(HttpError, match=message):
            parse_object(body)
