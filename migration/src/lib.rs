//! The LMS schema.
//!
//! Each migration is a pair of SQL files under `migration/sql/`, applied in
//! one transaction per migration. SQL rather than the schema builder because
//! the schema leans on PostgreSQL features the builder does not express
//! (partial unique indexes, ICU collations, `NULLS NOT DISTINCT`) and because
//! reviewers read SQL.

use sea_orm_migration::prelude::*;

/// Defines a migration whose `up` and `down` are SQL files.
macro_rules! sql_migration {
    ($module:ident, $name:literal) => {
        mod $module {
            use sea_orm_migration::prelude::*;

            pub struct Migration;

            impl MigrationName for Migration {
                fn name(&self) -> &str {
                    $name
                }
            }

            #[async_trait::async_trait]
            impl MigrationTrait for Migration {
                async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                    let sql = include_str!(concat!("../sql/", $name, ".up.sql"));
                    manager
                        .get_connection()
                        .execute_unprepared(sql)
                        .await
                        .map(|_| ())
                }

                async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                    let sql = include_str!(concat!("../sql/", $name, ".down.sql"));
                    manager
                        .get_connection()
                        .execute_unprepared(sql)
                        .await
                        .map(|_| ())
                }
            }
        }
    };
}

sql_migration!(m0001, "m20261125_000001_domain");
sql_migration!(m0002, "m20261125_000002_migration_bookkeeping");
sql_migration!(m0003, "m20261125_000003_migration_staging");
sql_migration!(m0004, "m20261125_000004_partition_ledger");
sql_migration!(m0005, "m20261125_000005_run_kinds");
sql_migration!(m0006, "m20261125_000006_logged_staging");
sql_migration!(m0007, "m20261202_000007_three_way_delta");
sql_migration!(m0008, "m20261202_000008_owned_values");
sql_migration!(m0009, "m20261202_000009_bulk_load");
sql_migration!(m0010, "m20261202_000010_incremental_runs");
sql_migration!(m0011, "m20261202_000011_audit_and_idempotency");
sql_migration!(m0012, "m20261202_000012_run_undo");
sql_migration!(m0013, "m20261202_000013_run_hold");
sql_migration!(m0014, "m20261203_000014_ledger_not_migrated");
sql_migration!(m0015, "m20261203_000015_staging_witness");
sql_migration!(m0016, "m20261203_000016_change_log_key");
sql_migration!(m0017, "m20261204_000017_change_log_append");
sql_migration!(m0018, "m20261204_000018_room_for_updates");
sql_migration!(m0019, "m20261206_000019_compact_baselines");
sql_migration!(m0020, "m20261206_000020_files_need_a_url");
sql_migration!(m0021, "m20261206_000021_staged_under_rules");
sql_migration!(m0022, "m20261206_000022_login_placeholders");
sql_migration!(m0023, "m20261206_000023_run_requests");
sql_migration!(m0024, "m20261206_000024_ledger_written_at");
sql_migration!(m0025, "m20261206_000025_submission_order");
sql_migration!(m0026, "m20261207_000026_baselines_in_utc");
sql_migration!(m0027, "m20261207_000027_change_log_retention");
sql_migration!(m0028, "m20261207_000028_run_action_requests");

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001::Migration),
            Box::new(m0002::Migration),
            Box::new(m0003::Migration),
            Box::new(m0004::Migration),
            Box::new(m0005::Migration),
            Box::new(m0006::Migration),
            Box::new(m0007::Migration),
            Box::new(m0008::Migration),
            Box::new(m0009::Migration),
            Box::new(m0010::Migration),
            Box::new(m0011::Migration),
            Box::new(m0012::Migration),
            Box::new(m0013::Migration),
            Box::new(m0014::Migration),
            Box::new(m0015::Migration),
            Box::new(m0016::Migration),
            Box::new(m0017::Migration),
            Box::new(m0018::Migration),
            Box::new(m0019::Migration),
            Box::new(m0020::Migration),
            Box::new(m0021::Migration),
            Box::new(m0022::Migration),
            Box::new(m0023::Migration),
            Box::new(m0024::Migration),
            Box::new(m0025::Migration),
            Box::new(m0026::Migration),
            Box::new(m0027::Migration),
            Box::new(m0028::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "lms_schema_migrations".into_iden()
    }
}
