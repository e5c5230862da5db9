package config

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ParamError names the parameter that was refused and why.
type ParamError struct {
	Param, Problem string
}

func (e *ParamError) Error() string { return fmt.Sprintf("parameter %q: %s", e.Param, e.Problem) }

// Coerce checks one raw value against the parameter's schema and returns its
// typed form (int64, string or bool).
func (p *Param) Coerce(raw string) (any, error) {
	switch p.Type {
	case "int":
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return nil, &ParamError{p.Name, fmt.Sprintf("%q is not a whole number", raw)}
		}
		if p.Min != nil && n < *p.Min {
			return nil, &ParamError{p.Name, fmt.Sprintf("%d is below the minimum %d", n, *p.Min)}
		}
		if p.Max != nil && n > *p.Max {
			return nil, &ParamError{p.Name, fmt.Sprintf("%d is above the maximum %d", n, *p.Max)}
		}
		return n, nil
	case "bool":
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return nil, &ParamError{p.Name, fmt.Sprintf("%q is not true or false", raw)}
		}
		return b, nil
	case "enum":
		if !slices.Contains(p.Values, raw) {
			return nil, &ParamError{p.Name, fmt.Sprintf("%q is not one of %s", raw, strings.Join(p.Values, ", "))}
		}
		return raw, nil
	default:
		if len(p.Values) > 0 && !slices.Contains(p.Values, raw) {
			return nil, &ParamError{p.Name, fmt.Sprintf("%q is not one of %s", raw, strings.Join(p.Values, ", "))}
		}
		return raw, nil
	}
}

// ResolveParams validates raw parameters for a job of this type submitted by
// institution in, fills defaults, and returns them typed. Unknown parameters
// are refused so a typo never silently falls back to a default.
func (jt *JobType) ResolveParams(in *Institution, raw map[string]string) (map[string]any, error) {
	out := make(map[string]any, len(jt.Params))
	known := map[string]bool{}
	for i := range jt.Params {
		p := &jt.Params[i]
		known[p.Name] = true
		v, given := raw[p.Name]
		if !given {
			switch {
			case p.DefaultFrom == "loan_retention_days" && in != nil:
				v, given = strconv.Itoa(in.LoanRetentionDays), true
			case p.Default != nil:
				v, given = *p.Default, true
			}
		}
		if !given {
			if p.Required {
				return nil, &ParamError{p.Name, "is required"}
			}
			continue
		}
		typed, err := p.Coerce(v)
		if err != nil {
			return nil, err
		}
		out[p.Name] = typed
	}
	var unknown []string
	for k := range raw {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		var names []string
		for _, p := range jt.Params {
			names = append(names, p.Name)
		}
		return nil, &ParamError{unknown[0], fmt.Sprintf("unknown parameter for job type %s (known: %s)", jt.ID, strings.Join(names, ", "))}
	}
	return out, nil
}
