//! The one integration test crate: each module covers one area end to end.

mod util;

mod agent;
mod agent_exec;
mod channels_cli;
mod cli;
mod config;
mod doctor;
mod docker;
mod dood;
mod fake_model;
mod fake_oauth;
mod fake_discord;
mod discord;
mod fake_telegram;
mod sandbox;
mod sandbox_exec;
mod sandbox_cli;
mod service;
mod prune;
mod gateway;
mod ui_browser;
mod gateway_net;
mod containerized;
mod onboard;
mod telegram;
