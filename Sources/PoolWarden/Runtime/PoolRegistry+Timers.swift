import PoolCore

extension PoolRegistry {
    /// Arms PoolCore's timer as a sleeping task, replacing a pending one of the same kind. The
    /// generation tells a replaced timer that wakes anyway (its cancel raced its wake-up) to stay quiet.
    func schedule(_ timer: PoolTimer, _ state: inout RegistryState, now: ContinuousClock.Instant) {
        state.timers[timer.kind]?.task.cancel()
        state.nextTimerGeneration += 1
        let generation = state.nextTimerGeneration
        let deadline = timer.deadline(after: now)
        let kind = timer.kind
        let task = Task {
            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
            self.timerFired(kind, generation: generation)
        }
        state.timers[kind] = RegistryState.TimerEntry(generation: generation, task: task)
    }

    private func timerFired(_ kind: PoolTimerKind, generation: UInt64) {
        let effects = state.withLock { state -> RegistryEffects in
            var effects = RegistryEffects()
            guard state.timers[kind]?.generation == generation else { return effects }
            state.timers[kind] = nil
            let now = ContinuousClock.now
            apply(state.group.timerFired(kind, now: now), to: &state, now: now, effects: &effects)
            return effects
        }
        perform(effects)
    }
}
