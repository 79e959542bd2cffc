import Testing
@testable import PoolCore

@Suite struct LeaseExpiryTests {
    @Test func aLeaseIdlePastItsTTLIsRevokedRolledBackAndReturned() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let grant = h.lease(pool, ttl: .seconds(30))
        #expect(h.advance(by: .seconds(29)).isEmpty)
        let expired = h.advance(by: .seconds(1))
        #expect(expired.revokes.map(\.0) == [grant.lease])
        #expect(expired.revokes.map(\.1) == [.expired])
        #expect(expired.resets == [grant.connectionID], "its transaction is rolled back")
        #expect(h.status(pool).totals.expired == 1)
        #expect(h.group.lease(grant.lease) == nil)
        #expect(h.release(grant).isEmpty, "the token is gone")

        h.record(h.group.resetSucceeded(grant.connectionID, now: h.now))
        #expect(h.status(pool).counts.idle == 1)
    }

    @Test func useKeepsALeaseAlive() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let grant = h.lease(pool, ttl: .seconds(60))
        h.advance(by: .seconds(50))
        let remaining = h.group.leaseTouched(grant.lease, running: false, now: h.now)
        #expect(remaining == .seconds(60))
        #expect(h.advance(by: .seconds(59)).revokes.isEmpty)
        #expect(h.advance(by: .seconds(1)).revokes.map(\.0) == [grant.lease])
    }

    @Test func aRunningStatementNeverExpires() {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let grant = h.lease(pool, ttl: .seconds(10))
        _ = h.group.leaseTouched(grant.lease, running: true, now: h.now)
        #expect(h.advance(by: .seconds(300)).revokes.isEmpty)
        _ = h.group.leaseTouched(grant.lease, running: false, now: h.now)
        #expect(h.advance(by: .seconds(9)).revokes.isEmpty)
        #expect(h.advance(by: .seconds(10)).revokes.count == 1)
    }

    @Test func renewExtendsTheLease() throws {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let grant = h.lease(pool, ttl: .seconds(60))
        h.advance(by: .seconds(40))
        let renewal = h.group.renew(grant.lease, now: h.now)
        let renewed = try #require(renewal)
        #expect(renewed.expiresIn == .seconds(60))
        #expect(h.advance(by: .seconds(59)).revokes.isEmpty)
        #expect(h.advance(by: .seconds(1)).revokes.count == 1)
        let late = h.group.renew(grant.lease, now: h.now)
        #expect(late == nil)
    }

    @Test func renewWithAShorterTTLSchedulesAnEarlierExpiry() throws {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let grant = h.lease(pool, ttl: .seconds(60))
        let shortening = h.group.renew(grant.lease, ttl: .seconds(5), now: h.now)
        let shorter = try #require(shortening)
        h.record(shorter.actions)
        #expect(Array(shorter.actions) == [.schedule(PoolTimer(kind: .leaseExpiry(grant.connectionID), delay: .seconds(5)))])
        #expect(h.advance(by: .seconds(5)).revokes.count == 1)
    }

    @Test func anExpiredLeasesConnectionServesTheNextWaiterAfterItsReset() throws {
        var h = Harness()
        let pool = h.addOpenPool(.test(min: 1, max: 1))
        let grant = h.lease(pool, caller: "forgetful", ttl: .seconds(10))
        let waiter = h.borrow(pool, caller: "web", wait: .seconds(30)).request
        let expired = h.advance(by: .seconds(10))
        #expect(expired.grants.isEmpty)
        let reset = h.record(h.group.resetSucceeded(grant.connectionID, now: h.now))
        let next = try #require(reset.grant(of: waiter))
        #expect(next.connectionID == grant.connectionID)
        #expect(next.lease != grant.lease)
    }
}
