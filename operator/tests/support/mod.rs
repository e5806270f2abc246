// Each test binary uses its own part of the support code.
#![allow(dead_code)]

pub mod fake_admin;
pub mod fake_api;
pub mod pods;
pub mod resp;
