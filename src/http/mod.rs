//! The HTTP glue: Pingora's `ProxyHttp` for the request path, the client's address,
//! and the `X-Risk-*` header contract. It holds no policy: what to do with a request
//! is `decide`'s, what is known about an address is `intel`'s.

pub mod authz;
pub mod body;
pub mod conn;
pub mod headers;
pub mod proxy;
