// How the C entry points fail: the `Failure` every check throws, and `status { ... }`, which turns
// it into an `rf_status` plus the message `rf_last_error()` gives (safe code: no pointer here).
import CRewardFlowAPI
import RewardFlow

/// A failed C call: the status it returns and the message `rf_last_error()` gives.
struct Failure: Error {
    var status: rf_status
    var message: String

    /// API misuse (`RF_ERR_INVALID_ARGUMENT`).
    static func argument(_ message: String) -> Failure {
        Failure(status: RF_ERR_INVALID_ARGUMENT, message: message)
    }

    /// The library's error, with the status of its kind.
    init(_ error: RewardFlowError) {
        switch error {
        case .invalidInput: status = RF_ERR_INVALID_INPUT
        case .invalidParameter: status = RF_ERR_INVALID_PARAMETER
        case .numerical: status = RF_ERR_NUMERICAL
        case .io: status = RF_ERR_INTERNAL
        }
        message = error.description
    }

    init(status: rf_status, message: String) {
        self.status = status
        self.message = message
    }
}

/// Runs `body`, turning the library's typed error into a `Failure`.
func library<T>(_ body: () throws(RewardFlowError) -> T) throws(Failure) -> T {
    do throws(RewardFlowError) {
        return try body()
    } catch {
        throw Failure(error)
    }
}

/// The body of every fallible C entry point: `RF_OK`, or the failure's status with its message
/// stored for `rf_last_error()`.
func status(_ body: () throws(Failure) -> Void) -> rf_status {
    do throws(Failure) {
        try body()
        return RF_OK
    } catch {
        LastError.set(error.message)
        return error.status
    }
}
