//! Errors of the layers below as gRPC statuses, the same for every service.

use tonic::Status;

use crate::lookup::LookupError;
use crate::store::WriteError;

/// How a failed write or read barrier answers: UNAVAILABLE when another
/// node (or a later try) could succeed.
pub fn write_error(e: WriteError) -> Status {
    match e {
        WriteError::NoLeader
        | WriteError::NotLeader(..)
        | WriteError::MembershipBusy
        | WriteError::ShuttingDown => Status::unavailable(e.to_string()),
        WriteError::Timeout(_) => Status::deadline_exceeded(e.to_string()),
        WriteError::NoQuorum(_) => Status::unavailable(e.to_string()),
        WriteError::Rejected(_) => Status::internal(e.to_string()),
        WriteError::Removed(_) => Status::failed_precondition(e.to_string()),
    }
}

pub fn lookup_error(e: LookupError) -> Status {
    use LookupError as E;
    match e {
        E::Removed(_) => Status::failed_precondition(e.to_string()),
        E::Number { .. } => Status::invalid_argument(e.to_string()),
        E::NoRoute(_) => Status::not_found(e.to_string()),
    }
}
