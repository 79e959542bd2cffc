import PoolCore

extension PoolRegistry {
    /// Arms PoolCore's timer, replacing a pending one of the same kind.
    ///
    /// Timers are deadlines in the registry's state, served by one dispatch timer on a queue of
    /// the registry's own, not sleeping tasks: a borrow's deadline, a connect's backoff or a
    /// lease's expiry must not wait for a thread of Swift's cooperative pool or of an event loop,
    /// which other work may hold for seconds on a busy machine (issue 12). Only live timers are
    /// kept, so a lease timer pushed back at every statement costs nothing until it is due.
    func schedule(_ timer: PoolTimer, _ state: inout RegistryState, now: ContinuousClock.Instant) {
        let deadline = timer.deadline(after: now)
        state.timers[timer.kind] = deadline
        if state.timerArmedFor.map({ deadline < $0 }) ?? true { arm(deadline, &state) }
    }

    /// Fires every timer that is due, in deadline order; a timer that an earlier one cancelled or
    /// pushed back stays quiet. PoolCore checks each against its state, so one that fires late
    /// does no harm.
    func timersDue() {
        let effects = state.withLock { state -> RegistryEffects in
            var effects = RegistryEffects()
            let now = ContinuousClock.now
            state.timerArmedFor = nil
            let due = state.timers.filter { $0.value <= now }.sorted { $0.value < $1.value }
            for (kind, _) in due {
                guard let deadline = state.timers[kind], deadline <= now else { continue }
                state.timers[kind] = nil
                logger.trace("timer fired", metadata: ["timer": "\(kind)"])
                apply(state.group.timerFired(kind, now: now), to: &state, now: now, effects: &effects)
            }
            if let next = state.timers.values.min(), state.timerArmedFor.map({ next < $0 }) ?? true {
                arm(next, &state)
            }
            return effects
        }
        perform(effects)
    }

    private func arm(_ deadline: ContinuousClock.Instant, _ state: inout RegistryState) {
        state.timerArmedFor = deadline
        timer.fire(after: ContinuousClock.now.duration(to: deadline))
    }
}
