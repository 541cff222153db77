package fields

import "errors"

func asSyntaxError(err error, target **SyntaxError) bool { return errors.As(err, target) }
