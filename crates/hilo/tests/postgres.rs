//! The integration suite (`tests/it`) against PostgreSQL: every test gets a database of its
//! own on the server `HILO_TEST_DATABASE_URL` names, dropped when it ends.

const BACKEND: it::support::Backend = it::support::Backend::Postgres;

mod it;
