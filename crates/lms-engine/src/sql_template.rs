//! SQL statements kept in `.sql` files beside their modules, with named
//! holes (`{{target}}`) for what varies by table: table and column names
//! from the engine's own specs, never values from outside (values are bound
//! as parameters).

use crate::error::EngineError;

/// Fills every `{{name}}` hole of `template`; a hole without a value, or a
/// value without a hole, is a programming error reported as such.
pub fn render(template: &str, values: &[(&str, &str)]) -> Result<String, EngineError> {
    let mut sql = template.to_owned();
    for (name, value) in values {
        let hole = format!("{{{{{name}}}}}");
        if !sql.contains(&hole) {
            return Err(EngineError::Invariant(format!(
                "SQL template has no hole {hole}"
            )));
        }
        sql = sql.replace(&hole, value);
    }
    if let Some(start) = sql.find("{{") {
        let hole: String = sql[start..].chars().take(40).collect();
        return Err(EngineError::Invariant(format!(
            "SQL template hole left unfilled: {hole}"
        )));
    }
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_hole_and_refuses_leftovers() {
        let sql = render(
            "SELECT {{columns}} FROM {{table}} WHERE x = '{}'",
            &[("columns", "a, b"), ("table", "t")],
        );
        assert_eq!(
            sql.ok().as_deref(),
            Some("SELECT a, b FROM t WHERE x = '{}'")
        );
        assert!(render("SELECT {{columns}}", &[]).is_err());
        assert!(render("SELECT 1", &[("columns", "a")]).is_err());
    }
}
