"""A phone's message goes out at once when its socket is idle (`Phone.now`, the server's
send_now), else it is held for the socket's task, which sends only the newest: either way the
phone's last message is the newest state, never an older one after it (follow/fanout.py)."""

from __future__ import annotations

import asyncio

from queueserver.follow.fanout import Phone


class Peer:
    def __init__(self, takes: bool = True) -> None:
        self.got: list[str] = []
        self.takes = takes

    def send_now(self, text: str) -> bool:
        if self.takes:
            self.got.append(text)
        return self.takes


def test_an_idle_socket_gets_the_message_at_once_and_no_task_is_woken() -> None:
    async def scenario() -> None:
        phone, peer = Phone("A001"), Peer()
        phone.now = peer.send_now
        waiting = asyncio.ensure_future(phone.wait())
        await asyncio.sleep(0)
        assert phone.offer(("3 ahead",), "m1", None) is True
        assert peer.got == ["m1"] and phone.text is None
        await asyncio.sleep(0)
        assert not waiting.done()  # the task sleeps on
        assert phone.offer(("3 ahead",), "m1 again", None) is False  # nothing new to say
        assert peer.got == ["m1"]
        waiting.cancel()

    asyncio.run(scenario())


def test_while_the_task_sends_or_holds_a_message_the_newest_waits_for_it() -> None:
    phone, peer = Phone("A001"), Peer()
    phone.now = peer.send_now
    phone.sending = True
    assert phone.offer(("3 ahead",), "m1", None) is True
    assert phone.text == "m1" and peer.got == []
    phone.sending = False
    # A message is held: the next replaces it, and does not go round it (it would then be
    # followed by the older one).
    assert phone.offer(("2 ahead",), "m2", None) is True
    assert phone.text == "m2" and peer.got == []
    assert phone.take() == ("m2", None)
    assert phone.offer(("1 ahead",), "m3", None) is True
    assert peer.got == ["m3"] and phone.text is None


def test_a_socket_that_cannot_take_it_now_gets_it_from_its_task() -> None:
    phone, peer = Phone("A001"), Peer(takes=False)
    phone.now = peer.send_now
    assert phone.offer(("3 ahead",), "m1", 1_700_000_000_000) is True
    assert phone.take() == ("m1", 1_700_000_000_000)
    without = Phone("A002")
    assert without.offer(("3 ahead",), "m1", None) is True
    assert without.text == "m1"
