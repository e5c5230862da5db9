package marc8_test

import (
	"errors"
	"fmt"

	"github.com/bindery/bindery/pkg/marc8"
)

func ExampleDecode() {
	// ANSEL diacritics come before their letter; ESC ( N switches G0 to
	// Cyrillic and ESC ( B back to ASCII.
	src := []byte("Cr\xe1eme br\xe3ul\xe2ee, \x1b(NmOSKWA\x1b(B 1998")
	out, err := marc8.Decode(nil, src)
	fmt.Println(string(out), err)
	// Output: Crème brûlée, Москва 1998 <nil>
}

func ExampleDecode_problems() {
	// 0xC9 is undefined in ANSEL and ESC - Z designates no set.
	out, err := marc8.Decode(nil, []byte("ok\xc9 \x1b-Zok"))
	fmt.Printf("%+q\n", out)

	var de *marc8.DecodeError
	if errors.As(err, &de) {
		for _, p := range de.Problems {
			fmt.Println(p.Offset, p.Kind, "-", p)
		}
	}
	// Output:
	// "ok\ufffd \ufffdok"
	// 2 undefined character - byte 0xC9 undefined in G1 set "Extended Latin (ANSEL)" at byte 2
	// 4 invalid escape sequence - invalid escape sequence ESC 0x2D 0x5A at byte 4
}
