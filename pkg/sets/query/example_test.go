package query_test

import (
	"fmt"

	"github.com/bindery/bindery/pkg/sets/query"
)

func ExampleParse() {
	q, err := query.Parse(`650 $a contains "Jazz" AND NOT suppressed`)
	if err != nil {
		panic(err)
	}
	a := query.NewArgs(query.Context{Institution: "DEMO"}, "DEMO")
	fmt.Println(q.UsesMARC(), q.Where(a), a.Values()[1:])

	_, err = query.Parse(`650 $a contains AND suppressed`)
	fmt.Println(err)
	// Output:
	// true NOT (r.suppressed = $2::boolean) [true]
	// query: position 17: expected a value after "contains", found "AND"
}
