//! Work that runs outside the request: today mail delivery from the outbox; the worker and
//! scheduler issues add their jobs here.

pub mod send_email;
