package normalize_test

import (
	"fmt"

	"github.com/tracemark/tracemark/normalize"
)

// Zero-width characters and Cyrillic look-alikes hidden in English text are
// undone; Russian text is left as it is.
func ExampleText() {
	fmt.Printf("%q\n", normalize.Text("wа\u200bter\u200dmаrk"))
	fmt.Printf("%q\n", normalize.Text("Привет, мир"))
	// Output:
	// "watermark"
	// "Привет, мир"
}
