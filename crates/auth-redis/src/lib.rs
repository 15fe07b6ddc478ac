#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod codec;
mod config;
mod connection;
mod scripts;
mod secrets;
mod store;

pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_OP_TIMEOUT, DEFAULT_OUTAGE_COOLDOWN, DEFAULT_PREFIX,
    RedisStoreBuilder,
};
pub use store::{FAILURE_HORIZON, FORMAT_VERSION, GENERATION_TTL, RedisStore};
