// Package templated generates deterministic corpora of human-like templated
// text, in which documents share large parts verbatim and differ in slots:
// form letters and templated e-mails, log files, web-page boilerplate around
// varying content, and the standard library's Go source. They are the hard
// case for corpus-level watermark tests: documents that share a template
// share (seed, token) tuples, so their scores are not independent unless
// the detector deduplicates across documents.
//
// Every generator is a pure function of (kind, n, seed): the same arguments
// give the same documents on every run and platform (math/rand/v2's PCG).
// It never computes statistics.
package templated

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/tracemark/tracemark/internal/refcorpus"
)

// The corpus kinds Corpus knows.
const (
	// Letters are form letters and templated e-mails: a handful of templates
	// (order confirmations, payment reminders, shipping notices, meeting
	// invitations, password resets, subscription renewals) whose slots are
	// filled from lists of names, dates, amounts, products and places.
	Letters = "letters"
	// Logs are log files of 20-80 lines, each in one of several formats
	// (web access logs, syslog, structured key=value, application logs with
	// levels) with varying addresses, times, paths, codes and messages.
	Logs = "logs"
	// Boilerplate is web-page and file text: navigation menus, cookie
	// banners, license headers and footers around a short varying body.
	Boilerplate = "boilerplate"
	// GoSource is standard-library Go source (one file a document, chosen
	// by the seed from a fixed list of packages): human-written code that
	// shares copyright headers, imports and idioms.
	GoSource = "gosource"
)

// Kinds returns the kinds Corpus accepts, in a fixed order.
func Kinds() []string { return []string{Letters, Logs, Boilerplate, GoSource} }

// Corpus returns n documents of the given kind generated from seed. Equal
// arguments give equal documents; different seeds give different corpora.
// GoSource needs the Go installation (see refcorpus.GoRoot) and fails if n
// exceeds the number of files of its packages (GoSourceFiles).
func Corpus(kind string, n int, seed uint64) ([]string, error) {
	if n < 0 {
		return nil, fmt.Errorf("templated corpus %q: negative size %d", kind, n)
	}
	rng := rand.New(rand.NewPCG(seed, kindStream(kind)))
	var gen func(*rand.Rand) string
	switch kind {
	case Letters:
		gen = letter
	case Logs:
		gen = logFile
	case Boilerplate:
		gen = boilerplatePage
	case GoSource:
		return goSource(n, rng)
	default:
		return nil, fmt.Errorf("templated corpus: unknown kind %q (known: %s)", kind, strings.Join(Kinds(), ", "))
	}
	docs := make([]string, n)
	for i := range docs {
		docs[i] = gen(rng)
	}
	return docs, nil
}

// kindStream separates the random streams of the kinds for one seed.
func kindStream(kind string) uint64 {
	h := fnv.New64a()
	h.Write([]byte("tracemark/templated/" + kind))
	return h.Sum64()
}

func pick(rng *rand.Rand, list []string) string { return list[rng.IntN(len(list))] }

var (
	firstNames = []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
		"David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
		"Sarah", "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark",
		"Sandra", "Paul", "Ashley", "Steven", "Emily", "Andrew", "Donna", "Kevin", "Michelle", "Brian",
		"Carol", "George", "Amanda", "Omar", "Priya", "Wei", "Sofia", "Lukas", "Aisha", "Mateo", "Hana"}
	lastNames = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
		"Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
		"Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Clark",
		"Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Hill",
		"Patel", "Kowalski", "Schmidt", "Rossi", "Tanaka", "Okafor", "Novak", "Larsen"}
	months = []string{"January", "February", "March", "April", "May", "June", "July", "August",
		"September", "October", "November", "December"}
	weekdays = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}
	products = []string{"wireless headphones", "standing desk", "espresso machine", "hiking backpack",
		"electric kettle", "office chair", "running shoes", "winter jacket", "laptop stand",
		"bluetooth speaker", "cast iron skillet", "yoga mat", "smart thermostat", "desk lamp",
		"water filter", "mechanical keyboard", "travel mug", "air purifier", "garden hose", "rain boots"}
	plans     = []string{"Basic", "Standard", "Premium", "Family", "Business", "Student"}
	companies = []string{"Northwind Supply", "Bluebird Outfitters", "Crescent Home Goods", "Summit Gear",
		"Harbor Electronics", "Maple & Pine", "Riverside Market", "Atlas Office", "Brightside Living"}
	cities = []string{"Portland", "Austin", "Denver", "Boston", "Chicago", "Seattle", "Atlanta",
		"Phoenix", "Columbus", "Raleigh", "Madison", "Sacramento", "Tucson", "Omaha", "Richmond"}
	streets = []string{"Oak Street", "Maple Avenue", "Cedar Lane", "Park Road", "Elm Drive",
		"Lakeview Boulevard", "Hillside Court", "Church Street", "Mill Road", "Sunset Way"}
	carriers = []string{"UPS", "FedEx", "USPS", "DHL"}
	rooms    = []string{"the third-floor conference room", "Room 204", "the main boardroom",
		"the library meeting room", "our video call", "the training center"}
	topics = []string{"the quarterly budget review", "the new onboarding process", "the website redesign",
		"next year's hiring plan", "the vendor contract renewal", "the office move", "the product roadmap"}
)

type slots struct {
	first, last, sender, company, product, product2, plan, city, street, carrier, room, topic string
	date, date2, day, amount, amount2, order, tracking, code, time                            string
	qty                                                                                       int
}

func fill(rng *rand.Rand) slots {
	date := func() string {
		return fmt.Sprintf("%s %d, %d", pick(rng, months), 1+rng.IntN(28), 2019+rng.IntN(7))
	}
	s := slots{
		first: pick(rng, firstNames), last: pick(rng, lastNames), sender: pick(rng, firstNames), company: pick(rng, companies),
		product: pick(rng, products), product2: pick(rng, products), plan: pick(rng, plans),
		city: pick(rng, cities), street: pick(rng, streets), carrier: pick(rng, carriers),
		room: pick(rng, rooms), topic: pick(rng, topics),
		date: date(), date2: date(), day: pick(rng, weekdays),
		amount:   fmt.Sprintf("$%d.%02d", 5+rng.IntN(995), rng.IntN(100)),
		amount2:  fmt.Sprintf("$%d.%02d", 1+rng.IntN(60), rng.IntN(100)),
		order:    fmt.Sprintf("%d-%06d", 100+rng.IntN(900), rng.IntN(1000000)),
		tracking: fmt.Sprintf("1Z%08X%04d", rng.Uint32(), rng.IntN(10000)),
		code:     fmt.Sprintf("%06d", rng.IntN(1000000)),
		time:     fmt.Sprintf("%d:%02d %s", 1+rng.IntN(12), 15*rng.IntN(4), []string{"AM", "PM"}[rng.IntN(2)]),
		qty:      1 + rng.IntN(4),
	}
	return s
}

// letterTemplates are the form letters; each fills its slots from s.
var letterTemplates = []func(s slots) string{
	func(s slots) string {
		return fmt.Sprintf(`Subject: Your %[3]s order #%[4]s is confirmed

Hi %[1]s,

Thank you for shopping with %[3]s! We have received your order #%[4]s placed on %[5]s, and we are getting it ready to ship.

Order summary:
%[6]d x %[7]s
Subtotal: %[8]s
Shipping: %[9]s

Your items will be shipped to %[10]s, %[11]s. You will receive another e-mail with tracking information as soon as your package leaves our warehouse.

If you have any questions about your order, simply reply to this e-mail or visit our help center. Please have your order number ready when you contact us.

Thanks again for choosing %[3]s.

Best regards,
The %[3]s Team`, s.first, s.last, s.company, s.order, s.date, s.qty, s.product, s.amount, s.amount2, s.street, s.city)
	},
	func(s slots) string {
		return fmt.Sprintf(`Subject: Payment reminder: invoice %[4]s is due on %[5]s

Dear %[1]s %[2]s,

This is a friendly reminder that invoice %[4]s for %[6]s is due on %[5]s. According to our records, we have not yet received your payment.

If you have already sent the payment, please disregard this message and accept our thanks. If not, you can pay online through your account or by bank transfer using the invoice number as the reference.

Please note that payments received after the due date may be subject to a late fee of %[7]s. If you are having difficulty making this payment, please contact our billing department so that we can discuss a payment plan.

We appreciate your prompt attention to this matter.

Sincerely,
Accounts Receivable
%[3]s`, s.first, s.last, s.company, s.order, s.date, s.amount, s.amount2)
	},
	func(s slots) string {
		return fmt.Sprintf(`Subject: Your package is on its way

Hello %[1]s,

Good news! Your order #%[3]s has shipped and is on its way to you.

Carrier: %[4]s
Tracking number: %[5]s
Estimated delivery: %[6]s

Items in this shipment:
%[7]d x %[8]s

You can track your package at any time using the tracking number above. Please allow up to 24 hours for the tracking information to update. If you are not home at the time of delivery, the carrier will leave a notice with instructions for picking up your package in %[9]s.

Thank you for your order!

%[2]s Customer Service`, s.first, s.company, s.order, s.carrier, s.tracking, s.date, s.qty, s.product, s.city)
	},
	func(s slots) string {
		return fmt.Sprintf(`Subject: Meeting invitation: %[3]s

Hi %[1]s,

I would like to invite you to a meeting to discuss %[3]s. The meeting is scheduled for %[4]s, %[5]s at %[6]s in %[7]s and should take about an hour.

Please review the attached documents before the meeting, and come prepared with any questions or suggestions you may have. If you are unable to attend, let me know as soon as possible so that we can find another time that works for everyone.

Agenda:
1. Review of last meeting's action items
2. Discussion of %[3]s
3. Next steps and owners

Looking forward to seeing you there.

Kind regards,
%[8]s`, s.first, s.last, s.topic, s.day, s.date, s.time, s.room, s.sender)
	},
	func(s slots) string {
		return fmt.Sprintf(`Subject: Reset your password

Hi %[1]s,

We received a request to reset the password for your %[2]s account. Your verification code is:

%[3]s

Enter this code on the password reset page to choose a new password. The code expires in 30 minutes and can only be used once.

If you did not request a password reset, you can safely ignore this e-mail; your password will not change. For your security, never share this code with anyone. Our staff will never ask you for it.

This request was made on %[4]s at %[5]s from a device near %[6]s.

Thanks,
The %[2]s Security Team`, s.first, s.company, s.code, s.date, s.time, s.city)
	},
	func(s slots) string {
		return fmt.Sprintf(`Subject: Your %[3]s subscription renews on %[4]s

Dear %[1]s,

Thank you for being a %[2]s member. Your %[3]s plan will renew automatically on %[4]s, and the card on file will be charged %[5]s.

With your %[3]s plan you will continue to enjoy free shipping on all orders, early access to sales, and a member discount on products such as our %[6]s.

If you would like to change or cancel your plan, you can do so at any time before the renewal date from the account settings page. No action is needed if you wish to continue your membership.

We are grateful for your continued support.

Warm regards,
Membership Services
%[2]s`, s.first, s.company, s.plan, s.date, s.amount, s.product)
	},
}

// letter writes one form letter: a template with its slots filled, now and
// then with a short personal postscript.
func letter(rng *rand.Rand) string {
	t := letterTemplates[rng.IntN(len(letterTemplates))]
	s := fill(rng)
	text := t(s)
	if rng.IntN(4) == 0 {
		text += fmt.Sprintf("\n\nP.S. %s", pick(rng, []string{
			"Don't forget that our spring sale starts next week.",
			"Follow us for news about new arrivals and special offers.",
			"We would love to hear what you think about your " + s.product2 + ".",
			"Our customer service team is available seven days a week.",
		}))
	}
	return text
}

var (
	httpPaths = []string{"/", "/index.html", "/login", "/logout", "/api/v1/users", "/api/v1/orders",
		"/api/v1/orders/%d", "/static/css/main.css", "/static/js/app.js", "/images/logo.png",
		"/products/%d", "/search?q=shoes", "/cart", "/checkout", "/favicon.ico", "/robots.txt"}
	httpMethods = []string{"GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"}
	httpCodes   = []int{200, 200, 200, 200, 200, 304, 301, 404, 403, 500, 502}
	agents      = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
		"curl/8.4.0", "Googlebot/2.1 (+http://www.google.com/bot.html)", "python-requests/2.31.0"}
	hosts    = []string{"web01", "web02", "db01", "cache01", "worker03", "gateway"}
	daemons  = []string{"sshd", "systemd", "kernel", "cron", "nginx", "postfix/smtpd", "dockerd"}
	sysMsgs  = []string{"Accepted publickey for %s from %s port %d ssh2", "Failed password for invalid user %s from %s port %d ssh2", "Started Session %d of user %s.", "Connection closed by %s port %d", "(root) CMD (run-parts /etc/cron.hourly)", "Out of memory: Killed process %d (java)", "connect from unknown[%s]", "disconnect from unknown[%s] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4"}
	users    = []string{"root", "admin", "deploy", "ubuntu", "jenkins", "alice", "bob", "postgres"}
	levels   = []string{"INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
	services = []string{"auth", "billing", "inventory", "search", "notifications", "scheduler"}
	appMsgs  = []string{"request completed", "cache miss for key user:%d", "retrying connection to database (attempt %d of 5)",
		"user %d logged in", "payment authorized for order %d", "job %d finished in %dms", "slow query detected (%dms)",
		"failed to send e-mail to user %d: connection refused", "configuration reloaded", "health check passed"}
)

func ipAddr(rng *rand.Rand) string {
	return fmt.Sprintf("%d.%d.%d.%d", 10+rng.IntN(200), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
}

// formatVerbs fills every %d and %s verb of format with random values.
func formatVerbs(rng *rand.Rand, format string) string {
	var args []any
	for i := 0; i+1 < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		switch format[i+1] {
		case 'd':
			args = append(args, rng.IntN(100000))
		case 's':
			if rng.IntN(2) == 0 {
				args = append(args, pick(rng, users))
			} else {
				args = append(args, ipAddr(rng))
			}
		}
		i++
	}
	return fmt.Sprintf(format, args...)
}

// logFile writes one log file: 20-80 lines of one format with a common
// start time that advances line by line.
func logFile(rng *rand.Rand) string {
	format := rng.IntN(4)
	lines := 20 + rng.IntN(61)
	year, month, day := 2020+rng.IntN(6), 1+rng.IntN(12), 1+rng.IntN(28)
	sec := rng.IntN(86400)
	host := pick(rng, hosts)
	service := pick(rng, services)
	var b strings.Builder
	for i := 0; i < lines; i++ {
		sec += rng.IntN(30)
		h, m, s := (sec/3600)%24, (sec/60)%60, sec%60
		switch format {
		case 0: // web access log, combined format
			path := pick(rng, httpPaths)
			if strings.Contains(path, "%d") {
				path = fmt.Sprintf(path, rng.IntN(10000))
			}
			fmt.Fprintf(&b, "%s - - [%02d/%s/%d:%02d:%02d:%02d +0000] \"%s %s HTTP/1.1\" %d %d \"-\" \"%s\"\n",
				ipAddr(rng), day, months[month-1][:3], year, h, m, s, pick(rng, httpMethods), path,
				pick2(rng, httpCodes), rng.IntN(50000), pick(rng, agents))
		case 1: // syslog
			fmt.Fprintf(&b, "%s %2d %02d:%02d:%02d %s %s[%d]: %s\n", months[month-1][:3], day, h, m, s, host,
				pick(rng, daemons), 100+rng.IntN(30000), formatVerbs(rng, pick(rng, sysMsgs)))
		case 2: // structured key=value
			fmt.Fprintf(&b, "time=%d-%02d-%02dT%02d:%02d:%02dZ level=%s service=%s host=%s msg=%q duration_ms=%d request_id=%08x\n",
				year, month, day, h, m, s, strings.ToLower(pick(rng, levels)), service, host,
				formatVerbs(rng, pick(rng, appMsgs)), rng.IntN(2000), rng.Uint32())
		default: // application log with levels
			fmt.Fprintf(&b, "%d-%02d-%02d %02d:%02d:%02d,%03d %-5s [%s-worker-%d] com.example.%s.%sService - %s\n",
				year, month, day, h, m, s, rng.IntN(1000), pick(rng, levels), service, rng.IntN(8), service,
				strings.ToUpper(service[:1])+service[1:], formatVerbs(rng, pick(rng, appMsgs)))
		}
	}
	return b.String()
}

func pick2(rng *rand.Rand, list []int) int { return list[rng.IntN(len(list))] }

var (
	navMenus = []string{
		"Home | Products | Solutions | Pricing | Blog | About Us | Contact | Sign In",
		"Skip to main content\nMenu\nHome\nNews\nSports\nBusiness\nTechnology\nOpinion\nSubscribe",
		"Shop All | New Arrivals | Best Sellers | Sale | Gift Cards | Help | Track Order | Account",
	}
	cookieBanners = []string{
		"We use cookies to improve your experience on our site, to analyze traffic and to personalize content and ads. By clicking \"Accept all\", you agree to the storing of cookies on your device. You can change your preferences at any time in the cookie settings. Accept all | Reject all | Cookie settings",
		"This website uses cookies. We use cookies and similar technologies to provide essential site functionality, remember your preferences and measure how our site is used. Some cookies are set by third parties. Read our Cookie Policy to learn more. OK, got it",
	}
	licenseHeaders = []string{
		"Licensed under the Apache License, Version 2.0 (the \"License\"); you may not use this file except in compliance with the License. You may obtain a copy of the License at http://www.apache.org/licenses/LICENSE-2.0. Unless required by applicable law or agreed to in writing, software distributed under the License is distributed on an \"AS IS\" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the License for the specific language governing permissions and limitations under the License.",
		"Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files (the \"Software\"), to deal in the Software without restriction, including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the following conditions: The above copyright notice and this permission notice shall be included in all copies or substantial portions of the Software. THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND.",
	}
	footers = []string{
		"Privacy Policy | Terms of Service | Accessibility | Sitemap | Careers | Press\nFollow us on Facebook, Instagram and LinkedIn.\nCopyright © %d %s. All rights reserved.",
		"Customer Service: Help Center | Returns | Shipping Information | Contact Us\nSign up for our newsletter and get 10%% off your first order.\n© %d %s",
	}
	subjects   = []string{"Our team", "The new release", "This guide", "The city council", "Local volunteers", "Researchers", "The company", "Customers"}
	verbs      = []string{"announced", "explained", "reviewed", "improved", "introduced", "discussed", "tested", "described"}
	objects    = []string{"a faster way to manage orders", "the results of the annual survey", "several changes to the schedule", "new features for mobile users", "the plan for the downtown library", "simple steps to save energy at home", "the history of the old mill", "what to expect this season"}
	qualifiers = []string{"on Tuesday", "after months of work", "in a short statement", "at the community meeting", "for the first time", "with help from partners", "in more detail", "ahead of the holidays"}
)

// boilerplatePage writes one web page or source-file header: boilerplate
// around a body of 3-8 varying sentences.
func boilerplatePage(rng *rand.Rand) string {
	var body strings.Builder
	for i, k := 0, 3+rng.IntN(6); i < k; i++ {
		if i > 0 {
			body.WriteByte(' ')
		}
		fmt.Fprintf(&body, "%s %s %s %s.", pick(rng, subjects), pick(rng, verbs), pick(rng, objects), pick(rng, qualifiers))
	}
	year, company := 2010+rng.IntN(16), pick(rng, companies)
	if rng.IntN(3) == 0 { // a source file's license header and a short description
		return fmt.Sprintf("Copyright %d %s\n\n%s\n\n%s\n", year, company, pick(rng, licenseHeaders), body.String())
	}
	title := fmt.Sprintf("%s %s %s", pick(rng, subjects), pick(rng, verbs), pick(rng, objects))
	return fmt.Sprintf("%s\n\n%s\n\n%s\n\n%s, %s %d, %d\n\n%s\n\nRelated articles\nRead more\n\n%s",
		pick(rng, navMenus), pick(rng, cookieBanners), title, pick(rng, cities), pick(rng, months),
		1+rng.IntN(28), year, body.String(), fmt.Sprintf(pick(rng, footers), year, company))
}

// goSourcePackages are the standard-library packages GoSource draws from.
var goSourcePackages = []string{"net/http", "encoding/json", "go/ast", "go/parser", "go/printer",
	"strconv", "text/template", "database/sql", "go/types", "net", "os", "fmt", "crypto/tls",
	"archive/tar", "archive/zip", "compress/flate", "bufio", "bytes", "strings"}

// GoSourceFiles returns how many files Corpus(GoSource, …) chooses from.
func GoSourceFiles() (int, error) {
	docs, err := refcorpus.GoSource(goSourcePackages...)
	return len(docs), err
}

// goSource chooses n of the files in a seeded order.
func goSource(n int, rng *rand.Rand) ([]string, error) {
	docs, err := refcorpus.GoSource(goSourcePackages...)
	if err != nil {
		return nil, fmt.Errorf("templated corpus %q: %w", GoSource, err)
	}
	if n > len(docs) {
		return nil, fmt.Errorf("templated corpus %q: %d documents asked, the packages have %d files", GoSource, n, len(docs))
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].ID < docs[j].ID })
	perm := rng.Perm(len(docs))
	out := make([]string, n)
	for i := range out {
		out[i] = docs[perm[i]].Text
	}
	return out, nil
}
