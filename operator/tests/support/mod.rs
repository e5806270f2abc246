pub mod fake_admin;
pub mod fake_api;
