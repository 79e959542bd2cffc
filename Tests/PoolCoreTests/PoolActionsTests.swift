import Testing
@testable import PoolCore

@Suite struct PoolActionsTests {
    @Test func actionsKeepTheirOrderInlineAndBeyond() {
        var actions = PoolActions()
        #expect(actions.isEmpty)
        let pool = PoolID(index: 0, epoch: 0)
        let all = (0..<7).map { PoolAction.poolClosed(PoolID(index: UInt32($0), epoch: 0)) }
        for action in all {
            actions.append(action)
        }
        #expect(actions.count == 7)
        #expect(Array(actions) == all)
        #expect(actions[2] == .poolClosed(PoolID(index: 2, epoch: 0)))
        #expect(actions[6] == .poolClosed(PoolID(index: 6, epoch: 0)))
        #expect(actions.first == .poolClosed(pool))
    }

    @Test func timersCarryADelayFromTheEventsInstant() {
        let timer = PoolTimer(kind: .breakerProbe(PoolID(index: 1, epoch: 0)), delay: .seconds(3))
        #expect(timer.deadline(after: MockInstant(.seconds(10))) == MockInstant(.seconds(13)))
    }
}
