//! `docs/cost.md` is the code's: every unit of work runs through the local stack, its AWS calls are counted as the
//! functions make them, and the priced figures must match the doc's table. `make cost` rewrites the table.

use integration_tests::cost::{self, Functions};
use integration_tests::repo_root;
use local_stack::template::Template;

const BEGIN: &str = "<!-- cost-model:begin (make cost writes this part) -->";
const END: &str = "<!-- cost-model:end -->";

#[tokio::test]
async fn the_cost_model_is_the_codes() {
    let functions = Functions::from_template(&Template::load(&repo_root().join("template.yaml")).unwrap());
    let units = cost::measure_units().await;
    let table = cost::render(&units, &functions);
    let path = repo_root().join("docs/cost.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = doc
        .split_once(BEGIN)
        .expect("docs/cost.md has the generated part's begin marker");
    let (written, tail) = rest.split_once(END).expect("and its end marker");
    if std::env::var_os("COST_WRITE").is_some() {
        std::fs::write(&path, format!("{head}{BEGIN}\n{table}{END}{tail}")).unwrap();
        println!("{table}");
        return;
    }
    let (fresh, old) = (cost::summary_figures(&table), cost::summary_figures(written));
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        old.keys().collect::<Vec<_>>(),
        "the doc lists other units; run `make cost`:\n{table}"
    );
    for (unit, usd) in &fresh {
        let was = old[unit];
        // How SQS happens to batch the messages (one invocation for five, or five) and when a cache expires move a
        // figure by up to about 5 % between runs; two more writes per unit move it by more than 10 %.
        assert!(
            (usd - was).abs() <= 0.10 * was.abs().max(0.01),
            "{unit}: the code costs {usd} where docs/cost.md says {was}; run `make cost`:\n{table}"
        );
    }
}
