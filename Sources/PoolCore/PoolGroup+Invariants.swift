import DequeModule

extension PoolGroup {
    /// Cross-checks every piece of derived bookkeeping against a recount, and returns what does not
    /// add up (empty when all is well). Meant for tests and debug assertions in the runtime: it is
    /// O(connections + waiters).
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        var serverTotals = Array(repeating: 0, count: self.servers.count)
        var serverMembers = Array(repeating: [Int](), count: self.servers.count)
        var evictionsFor: [PoolID: Int] = [:]
        var leaseSerials = Set<UInt64>()

        for pool in self.pools.indices {
            let entry = self.pools[pool]
            let name = "pool \(pool)"
            if case .gone = entry.lifecycle {
                if entry.counts.total != 0 || entry.slots.contains(where: { $0.phase != .free }) {
                    problems.append("\(name): deleted but still has connections")
                }
                continue
            }
            if let server = entry.server {
                serverTotals[server] += entry.counts.total
                serverMembers[server].append(pool)
            }
            if entry.handles.count != entry.slots.count || entry.holders.count != entry.slots.count {
                problems.append("\(name): \(entry.slots.count) slots but \(entry.handles.count) handles, \(entry.holders.count) holders")
                continue
            }
            var recount = PhaseCounts()
            var idleSlots = Set<Int>()
            var freeSlots = Set<Int>()
            var loads: [Types.Caller: CallerLoad] = [:]
            for slot in entry.slots.indices {
                let item = entry.slots[slot]
                recount[item.phase] += 1
                switch item.phase {
                case .free: freeSlots.insert(slot)
                case .idle: idleSlots.insert(slot)
                default: break
                }
                let holdsConnection = [.idle, .checking, .leased, .resetting, .closing].contains(item.phase)
                if holdsConnection != (entry.handles[slot] != nil) {
                    problems.append("\(name) slot \(slot): phase \(item.phase) but handle present = \(entry.handles[slot] != nil)")
                }
                if (item.phase == .leased) != (item.lease != nil) || (item.lease != nil) != (entry.holders[slot] != nil) {
                    problems.append("\(name) slot \(slot): phase \(item.phase) but lease present = \(item.lease != nil)")
                }
                if let lease = item.lease, let holder = entry.holders[slot] {
                    loads[holder.caller, default: CallerLoad()].leases += 1
                    if !leaseSerials.insert(lease.serial).inserted {
                        problems.append("\(name) slot \(slot): lease serial \(lease.serial) held twice")
                    }
                    if let key = holder.key,
                        entry.keyed[LeaseKey(caller: holder.caller, key: key)]?.serial != lease.serial
                    {
                        problems.append("\(name) slot \(slot): keyed lease not registered")
                    }
                }
                if let beneficiary = item.evictedFor {
                    if item.phase == .closing {
                        evictionsFor[beneficiary, default: 0] += 1
                    } else {
                        problems.append("\(name) slot \(slot): eviction mark on a \(item.phase) connection")
                    }
                }
            }
            if recount != entry.counts {
                problems.append("\(name): counts \(entry.counts) but slots say \(recount)")
            }
            if Set(entry.idle) != idleSlots || entry.idle.count != idleSlots.count {
                problems.append("\(name): idle list \(Array(entry.idle)) but idle slots \(idleSlots.sorted())")
            }
            if Set(entry.freeSlots) != freeSlots || entry.freeSlots.count != freeSlots.count {
                problems.append("\(name): free list \(entry.freeSlots) but free slots \(freeSlots.sorted())")
            }
            for waiter in entry.waiters.entries.values {
                loads[waiter.caller, default: CallerLoad()].waiting += 1
            }
            if entry.waiters.inOrder.count != entry.waiters.count {
                problems.append("\(name): \(entry.waiters.count) waiters but \(entry.waiters.inOrder.count) queued")
            }
            if loads != entry.callers {
                problems.append("\(name): caller loads \(entry.callers) but recount \(loads)")
            }
            for (key, lease) in entry.keyed {
                guard let (owner, slot) = self.leaseSlot(lease), owner == pool,
                    entry.holders[slot]?.caller == key.caller, entry.holders[slot]?.key == key.key
                else {
                    problems.append("\(name): key \(key.key) maps to a lease that is gone")
                    continue
                }
            }
            if !entry.isRunning, !entry.waiters.isEmpty {
                problems.append("\(name): draining with waiters")
            }
        }
        for pool in self.pools.indices {
            if case .gone = self.pools[pool].lifecycle { continue }
            let expected = evictionsFor[self.poolID(pool)] ?? 0
            if self.pools[pool].pendingEvictions != expected {
                problems.append("pool \(pool): \(self.pools[pool].pendingEvictions) pending evictions but \(expected) closing for it")
            }
        }
        for server in self.servers.indices {
            if self.servers[server].total != serverTotals[server] {
                problems.append("server \(server): total \(self.servers[server].total) but pools hold \(serverTotals[server])")
            }
            if self.servers[server].pools.sorted() != serverMembers[server] {
                problems.append("server \(server): members \(self.servers[server].pools) but pools say \(serverMembers[server])")
            }
        }
        return problems
    }
}
