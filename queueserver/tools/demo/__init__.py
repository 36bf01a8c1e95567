"""`queueserver demo`: a living centre at any hour, in one process tree (CONTRACT §8).

It runs on the embedded default (or, where no `redis-server` is installed, on a fakeredis server
inside this process, keeping nothing), on its own **demo clock**: 10:00 on the next working day
of the first centre (today, if today is one and it is not yet noon), running `--speed` times as
fast as the real one; at 17:00 the next working day begins at 10:00. The worker and the web
server read the same clock (`QUEUESERVER_DEMO_CLOCK`, platform/clock.py); a restarted demo goes
on from where its clock stopped, so its data never lies in its future.

The sample bookings fill each demo day from 09:00 to 17:00; one booking in each half-hour slot is
kept for the person trying the desk. Simulated people and clerks go through the real HTTP API,
as anyone at a screen does: arrivals check in at the desk (some priority, some with a wrong
identity number first, some who never come when called), clerks at every counter but counter 1
call, serve, recall, accept, take the fee and issue receipts, or decline, transfer and mark
no-shows, with pauses drawn like a real counter's. A few permits from an earlier day wait at the
collection kiosk. The console prints the screens, logins and tokens, then one line per event from
the centres' event streams; the server's and the worker's logs go to `demo.log` in the data
folder.

The parts: `day` (the demo clock's start, the sample day, what to try), `people` (the simulated
arrivals and clerks), `kiosk` (an earlier day's permits), `console` (what a person reads),
`serving` (the web server as the demo runs it), `command` (what starts and stops them all).
"""

from queueserver.tools.demo.command import run

__all__ = ["run"]
