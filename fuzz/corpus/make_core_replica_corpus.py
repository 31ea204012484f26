#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/core_replica_fuzz.cpp into fuzz/corpus/core_replica/.

Each seed is a scenario written in the target's input format: a config
byte, the replica's id, then actions (an opcode and its operands). The
Writer methods below mirror the target's make_* and pick_* functions one
for one, byte for byte: when a message gains a field there (a new STATUS
or FETCH field, say), add its read to the method of the same name here and
run this script again. 0 is always the plain choice, so a method's
defaults make the ordinary message.

    fuzz/corpus/make_core_replica_corpus.py [output dir]
"""
import os
import sys

# Action opcodes: the order of the target's enum Action.
(REQUEST, PRE_PREPARE, PREPARE, COMMIT, CHECKPOINT, VIEW_CHANGE, NEW_VIEW, STATUS, FETCH,
 FETCH_REPLY, REPLAY, TICK, CRASH, WIPE) = range(14)
HOLD_EFFECTS = 0x80
RARELY = 15  # a byte that makes in.rarely() true
ROTATION = 'rotation'  # pick_sender: the next replica in turn
PREFERRED = 'preferred'  # pick_sender: the message's natural sender (a view's primary)


class Writer:
    def __init__(self, config=0, self_id=0):
        self.out = bytearray([config, self_id])
        f = 2 if config & 1 else 1
        self.n = 3 * f + 1
        self.f = f
        self.quorum = 2 * f + 1
        self.K, self.L = [(4, 8), (2, 8), (4, 16), (8, 16)][(config >> 1) & 3]
        self.batch_size_max = [1, 4, 1, 8][(config >> 6) & 3]
        self.self_id = self_id % self.n

    # ------------------------------------------------------------- values
    def byte(self, v=0):
        self.out.append(v & 0xff)

    def u64(self, v=0):
        self.out += int(v).to_bytes(8, 'little')

    def rarely(self, yes=False):
        self.byte(RARELY if yes else 0)

    def view(self, kind=0, extra=0):
        """pick_view: 0 view, 1 view+1, 2 view-1, 3 view+2, 4 view+extra, 5 zero, 6 far, 7 raw."""
        self.byte(kind)
        if kind in (4, 6):
            self.byte(extra)
        elif kind == 7:
            self.u64(extra)

    def seq(self, kind=0, extra=0):
        """pick_seq: 0 e+1, 1 e+2, 2 h+1, 3 H, 4 H+1, 5 h+extra, 6 e, 7 a known one,
        8 far, 9 raw."""
        self.byte(kind)
        if kind in (5, 7, 8):
            self.byte(extra)
        elif kind == 9:
            self.u64(extra)

    def checkpoint_seq(self, kind=0, extra=0):
        """pick_checkpoint_seq: 0 its latest, 1 h+K, 2 e rounded down, 3 h+K*(1+extra),
        4 e rounded up, 5 far, 6 raw."""
        self.byte(kind)
        if kind == 3:
            self.byte(extra)
        elif kind == 6:
            self.u64(extra)

    def state_digest(self, kind=0, salt=0):
        """pick_state_digest: 0 its own at that seq, 1 its first, 2 salted by seq, 3 salted."""
        self.byte(kind)
        if kind == 3:
            self.byte(salt)

    def digest(self, kind=3, detail=0):
        """pick_digest: 0 a known one at that seq, 1 a known batch, 2 null, 3 the latest
        at that seq, 4+ salted."""
        self.byte(kind)
        self.byte(detail)

    def sender(self, who=ROTATION):
        self.byte({PREFERRED: 0, ROTATION: 1}.get(who, 2 + who if isinstance(who, int) else 1))

    def sign(self, forge=False):
        self.rarely(forge)

    # ------------------------------------------------------------- messages
    def action(self, opcode, hold=False):
        self.byte(opcode | (HOLD_EFFECTS if hold else 0))

    def request_fields(self, client=0, ts=0, key=0, op='put', value=0, replier=0, forge=False):
        self.byte(client)
        self.byte(ts)
        if ts == 4:
            self.u64(0)
        self.byte(key)
        kind = ['put', 'get', 'append', 'null'].index(op)
        self.byte(kind)
        if op == 'put':
            self.byte(0)  # one byte
            self.byte(value)
        elif op in ('append', 'null'):
            self.byte(value)
        self.rarely()  # read-only
        self.byte(replier)  # 0: every replica
        self.rarely()  # the other authentication mode
        self.rarely(forge)

    def request(self, **fields):
        self.action(REQUEST, fields.pop('hold', False))
        self.request_fields(**fields)

    def batch(self, requests=1, client=0):
        """make_batch: one or two new requests, or none (the null request's batch)."""
        if requests == 0:
            self.byte(3)
            return
        self.byte(requests - 1)
        for i in range(requests):
            self.request_fields(client=(client + i) % 4)

    def pre_prepare(self, view=0, seq=0, requests=1, client=0, sender=PREFERRED, forge=False,
                    hold=False):
        self.action(PRE_PREPARE, hold)
        self.view(view)
        self.seq(seq)
        self.batch(requests, client)
        self.rarely()  # a digest that is not the batch's
        self.sender(sender)
        self.sign(forge)

    def vote(self, opcode, sender, view=0, seq=0, digest=3, forge=False, hold=False):
        self.action(opcode, hold)
        self.view(view)
        self.seq(seq)
        self.digest(digest)
        self.sender(sender)
        self.sign(forge)

    def checkpoint(self, sender, seq=0, digest=0, forge=False):
        self.action(CHECKPOINT)
        self.checkpoint_seq(seq)
        self.state_digest(digest)
        self.sender(sender)
        self.rarely(forge)

    def proof(self, kind=0):
        self.byte(kind)  # 0: 2f+1
        self.rarely()  # mixed digests
        self.rarely()  # a forged one

    def certificate(self, how=0):
        self.byte(how)  # 0: the known pre-prepare for the seq
        self.digest()
        if how == 1:
            self.view()
        self.rarely()  # another count of prepares
        self.rarely()  # a forged prepare

    def view_change_fields(self, stable=0, certificates=0):
        """stable: 0 its latest checkpoint, 1 zero, 2 picked."""
        self.byte(stable)
        if stable == 2:
            self.checkpoint_seq()
            self.state_digest()
        self.proof()
        self.rarely()  # a proof for seq 0
        self.byte(certificates)
        for _ in range(certificates):
            self.byte(0)  # the next seq
            self.rarely()  # beyond the window
            self.certificate()
        self.sign()

    def view_change(self, sender, next_view=True, view=0, stable=0, certificates=0):
        self.action(VIEW_CHANGE)
        self.sender(sender)
        self.byte(0 if next_view else 1)
        if not next_view:
            self.view(view)
        self.view_change_fields(stable, certificates)

    def new_view(self, kind=0, with_own=True, stable=0, certificates=0, sender=PREFERRED):
        """kind: 0 the view it is changing to (or view+1), 1 view+2, 2 its view."""
        self.action(NEW_VIEW)
        self.byte(kind)
        self.rarely()  # another count of VIEW-CHANGEs
        self.byte(0 if with_own else 1)
        for _ in range(min(self.quorum, self.n - 1)):
            self.view_change_fields(stable, certificates)
        self.rarely()  # a digest of O changed
        self.byte(0)
        self.digest()
        self.rarely()  # O shortened
        self.sender(sender)
        self.sign()

    def status(self, sender, view=0, seq=0, seq_extra=0, stable_kind=0, recovering=False,
               view_changing=False, nonce=0):
        """nonce: 0 none, 1 the replica's own recovery nonce echoed."""
        self.action(STATUS)
        self.view(view)
        self.seq(seq, seq_extra)
        self.byte(stable_kind)
        if stable_kind == 1:
            self.checkpoint_seq()
        self.byte((1 if recovering else 0) | (2 if view_changing else 0))
        self.byte(nonce)
        if nonce == 2:
            self.u64(0)
        self.sender(sender)
        self.sign()

    def fetch(self, sender, checkpoint=0, level=0, index=0, offset=0):
        """checkpoint: 0 its latest, 1 h."""
        self.action(FETCH)
        self.byte(checkpoint)
        if checkpoint == 2:
            self.checkpoint_seq()
        self.byte(level)
        self.byte(0)
        self.byte(index)
        self.byte(1 if offset else 0)
        if offset:
            self.byte(offset)
        self.sender(sender)
        self.sign()

    def fetch_reply(self, which=0, digests=0, data=0):
        """An answer to one of the replica's last FETCHes (its previous
        incarnation's, after a wipe)."""
        self.action(FETCH_REPLY)
        self.byte(0)  # an answer
        self.sender()
        self.checkpoint_seq()
        self.byte(0)
        self.byte(0)
        self.byte(0)
        self.byte(digests)
        for i in range(digests):
            self.byte(i)
        self.byte(data)
        self.byte(0x61)
        self.byte(0)  # total size: exact
        self.u64(0)
        self.byte(which)
        self.sign()

    def replay(self, sent=False, index=0):
        self.action(REPLAY)
        self.byte(1 if sent else 0)
        self.byte(index)

    def tick(self, timeout=False, ticks=1):
        self.action(TICK)
        self.byte(3 if timeout else 0)
        if not timeout:
            self.byte(ticks - 1)

    def crash(self, effects=255, kept=255):
        self.action(CRASH)
        self.byte(effects)
        self.byte(kept)

    def wipe(self):
        self.action(WIPE)

    # ------------------------------------------------------------- scenes
    def backups(self, view=0):
        """The other replicas that are not view's primary."""
        return [r for r in range(self.n) if r != view % self.n and r != self.self_id]

    def others(self):
        return [r for r in range(self.n) if r != self.self_id]

    def backup_round(self, view=0, client=0, checkpoint_every=None):
        """A backup's sequence number: the primary's pre-prepare, 2f prepares,
        commits; the replica prepares and commits with them and executes."""
        self.pre_prepare(client=client)
        for r in self.backups(view)[:2 * self.f]:
            self.vote(PREPARE, r)
        for r in self.others()[:2 * self.f]:
            self.vote(COMMIT, r)

    def primary_round(self, client=0):
        """The primary's sequence number: a request, then the backups' votes
        for the pre-prepare it sent (the latest digest at e+1)."""
        self.request(client=client)
        for r in self.others()[:2 * self.f]:
            self.vote(PREPARE, r)
        for r in self.others()[:2 * self.f]:
            self.vote(COMMIT, r)

    def stabilize(self):
        """2f CHECKPOINTs matching the replica's latest."""
        for r in self.others()[:2 * self.f]:
            self.checkpoint(r)


def scenarios():
    # A backup through two checkpoints (n = 4, K = 4, L = 8).
    w = Writer(0, 1)
    for s in range(1, 10):
        w.backup_round(client=s % 4)
        if s % 4 == 0:
            w.stabilize()
    w.tick(ticks=4)
    yield 'backup_checkpoints', w

    # The primary orders client requests and collects votes.
    w = Writer(0, 0)
    for s in range(1, 10):
        w.primary_round(client=s % 4)
        if s % 4 == 0:
            w.stabilize()
    yield 'primary_checkpoints', w

    # The same with signed requests, larger batches and effects held back.
    w = Writer(8 | (1 << 6), 0)
    for s in range(1, 6):
        w.request(client=s % 4, hold=True)
        w.request(client=(s + 1) % 4)
        for r in w.others()[:2]:
            w.vote(PREPARE, r)
        for r in w.others()[:2]:
            w.vote(COMMIT, r)
        if s % 4 == 0:
            w.stabilize()
    yield 'primary_signed_batches', w

    # n = 7: 2f = 4 votes of each kind.
    w = Writer(1, 3)
    for s in range(1, 10):
        w.backup_round(client=s % 4)
        if s % 4 == 0:
            w.stabilize()
    yield 'backup_n7', w

    # The view's primary goes quiet: the backup's timer runs out, it sends
    # VIEW-CHANGE, and as the next primary it sends NEW-VIEW once 2f others
    # join; then it orders requests in view 1.
    w = Writer(0, 1)
    for s in range(1, 6):
        w.backup_round(client=s % 4)
        if s % 4 == 0:
            w.stabilize()
    w.request(client=2)
    w.tick(timeout=True)
    w.tick(timeout=True)
    for r in (2, 3):
        w.view_change(r, next_view=False, view=0, stable=0, certificates=2)
    for s in range(1, 4):
        w.primary_round(client=s % 4)
    yield 'view_change_new_primary', w

    # A backup times out and installs the new primary's NEW-VIEW, with
    # prepared certificates in V, then takes part in view 1.
    w = Writer(0, 2)
    for s in range(1, 7):
        w.backup_round(client=s % 4)
        if s % 4 == 0:
            w.stabilize()
    w.request(client=1)
    w.tick(timeout=True)
    w.tick(timeout=True)
    w.new_view(kind=0, stable=0, certificates=2)
    for s in range(1, 4):
        w.backup_round(view=1, client=s % 4)
    yield 'view_change_backup', w

    # Crashes in the middle of the effects, with and without the unsynced
    # writes, between and after votes.
    w = Writer(0, 1)
    for s in range(1, 10):
        w.backup_round(client=s % 4)
        if s % 3 == 0:
            w.crash(effects=s, kept=s % 2)
        if s % 4 == 0:
            w.stabilize()
    w.crash()
    w.tick(ticks=4)
    yield 'crash_restart', w

    # The primary crashes with batches in flight and starts again.
    w = Writer(0, 0)
    for s in range(1, 7):
        w.primary_round(client=s % 4)
        if s == 3:
            w.request(client=1, hold=True)
            w.crash(effects=1, kept=0)
    yield 'primary_crash', w

    # A wiped replica recovers: its peers answer its STATUS (the nonce
    # echoed), prove their checkpoint, and it fetches the state.
    w = Writer(0, 2)
    for s in range(1, 6):
        w.backup_round(client=s % 4)
        if s % 4 == 0:
            w.stabilize()
    w.wipe()
    w.tick(ticks=4)
    for r in w.others():
        w.status(r, seq=5, seq_extra=5, nonce=1)  # executed up to h + 5
    w.stabilize()
    w.checkpoint(w.others()[2])
    w.tick(ticks=2)
    for i in range(24):
        w.fetch_reply(which=i % 3)
    w.tick(ticks=8)
    yield 'wipe_recover', w

    # STATUS from peers behind, ahead and changing views; FETCH of its
    # checkpoint's tree, level by level; replays of what came and went.
    w = Writer(0, 1)
    for s in range(1, 6):
        w.backup_round(client=s % 4)
        if s % 4 == 0:
            w.stabilize()
    w.status(0, view=0, seq=6)
    w.status(2, view=1, seq=2, view_changing=True)
    w.status(3, view=0, seq=6, recovering=True)
    w.tick(ticks=3)
    w.status(2, view=2, seq=1, stable_kind=1)
    for level in range(4):
        w.fetch(3, level=level)
    w.fetch(2, level=0, index=3, offset=1)
    for i in range(4):
        w.replay(sent=i % 2 == 1, index=i)
    yield 'status_fetch_replay', w


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'core_replica')
    os.makedirs(out_dir, exist_ok=True)
    for name, writer in scenarios():
        with open(os.path.join(out_dir, name), 'wb') as f:
            f.write(bytes(writer.out))
        print(f'{name}: {len(writer.out)} bytes')


if __name__ == '__main__':
    main()
