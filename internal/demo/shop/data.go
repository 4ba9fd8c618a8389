package shop

// Product is one catalog entry. Prices are kept in cents so that totals are
// exact; the JSON form also carries the price in currency units.
type Product struct {
	ID          int    `json:"id"`
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Category    string `json:"category"`
	PriceCents  int64  `json:"price_cents"`
	Description string `json:"description"`
}

// Address is a postal address.
type Address struct {
	Street  string `json:"street"`
	City    string `json:"city"`
	Zip     string `json:"zip"`
	Country string `json:"country"`
}

// User is a shop customer, with the personal data a real profile holds.
type User struct {
	ID       int     `json:"id"`
	Username string  `json:"username"`
	Name     string  `json:"name"`
	Email    string  `json:"email"`
	Phone    string  `json:"phone"`
	Address  Address `json:"address"`
	password string
}

// Credentials are a username and password that the users service accepts.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	UserID   int    `json:"user_id"`
}

// Categories returns the catalog's categories, in a fixed order.
func Categories() []string {
	return []string{"socks", "apparel", "footwear", "accessories", "home"}
}

// Catalog returns a fresh copy of the demo catalog (30 products).
func Catalog() []Product {
	return []Product{
		{1, "SCK-001", "Holy Socks", "socks", 999, "Socks with holes, worn with pride."},
		{2, "SCK-002", "Crossed Socks", "socks", 1750, "Cross-stitched merino blend."},
		{3, "SCK-003", "Colourful Socks", "socks", 1800, "Seven colours, one pair."},
		{4, "SCK-004", "Figueroa Socks", "socks", 1450, "Bamboo fibre, breathable."},
		{5, "SCK-005", "Classic Crew Socks", "socks", 800, "Cotton crew socks, pack of three."},
		{6, "SCK-006", "Nerd Leg Socks", "socks", 750, "Knee-high, binary pattern."},
		{7, "SCK-007", "Cat Socks", "socks", 1299, "Cats. On socks."},
		{8, "SCK-008", "Wool Hiking Socks", "socks", 2199, "Cushioned sole, for long trails."},
		{9, "APP-001", "Organic Cotton Tee", "apparel", 2500, "Heavyweight organic cotton t-shirt."},
		{10, "APP-002", "Gopher Hoodie", "apparel", 5900, "Zip hoodie with embroidered gopher."},
		{11, "APP-003", "Rain Jacket", "apparel", 11900, "Packable, waterproof, seam-sealed."},
		{12, "APP-004", "Flannel Shirt", "apparel", 4900, "Brushed flannel, regular fit."},
		{13, "APP-005", "Merino Beanie", "apparel", 2900, "Soft merino wool beanie."},
		{14, "APP-006", "Running Shorts", "apparel", 3500, "Lightweight with inner brief."},
		{15, "FTW-001", "Trail Runners", "footwear", 12900, "Grippy trail running shoes."},
		{16, "FTW-002", "Canvas Sneakers", "footwear", 5500, "Classic low-top canvas sneakers."},
		{17, "FTW-003", "Leather Boots", "footwear", 18900, "Goodyear-welted leather boots."},
		{18, "FTW-004", "Wool Slippers", "footwear", 4500, "Felted wool house slippers."},
		{19, "FTW-005", "Sport Sandals", "footwear", 6500, "Adjustable straps, quick-dry."},
		{20, "ACC-001", "Leather Belt", "accessories", 3900, "Full-grain leather, brass buckle."},
		{21, "ACC-002", "Canvas Tote", "accessories", 1900, "Heavy canvas tote bag."},
		{22, "ACC-003", "Aviator Sunglasses", "accessories", 8900, "Polarised lenses, metal frame."},
		{23, "ACC-004", "Travel Backpack", "accessories", 14900, "35 litres, laptop sleeve."},
		{24, "ACC-005", "Analog Watch", "accessories", 12500, "Quartz movement, sapphire glass."},
		{25, "ACC-006", "Sock Gift Box", "accessories", 4200, "Five pairs in a gift box."},
		{26, "HOM-001", "Ceramic Mug", "home", 1500, "Hand-glazed stoneware mug."},
		{27, "HOM-002", "Wool Throw", "home", 7900, "Lambswool throw blanket."},
		{28, "HOM-003", "Scented Candle", "home", 2400, "Cedar and vetiver, 50 hours."},
		{29, "HOM-004", "Pour-Over Coffee Set", "home", 4600, "Glass dripper, kettle and filters."},
		{30, "HOM-005", "Linen Napkins", "home", 2800, "Set of four stonewashed linen napkins."},
	}
}

// users returns the demo customers with their passwords.
func users() []User {
	return []User{
		{17, "alice", "Alice Martin", "alice.martin@example.com", "+1-415-555-0117", Address{"1 Market St", "San Francisco", "94105", "US"}, "wonderland-42"},
		{23, "bob", "Bob Nguyen", "bob.nguyen@example.net", "+1-206-555-0123", Address{"400 Pine St", "Seattle", "98101", "US"}, "builder-2024"},
		{31, "carol", "Carol Schmidt", "carol.schmidt@example.de", "+49-30-5550131", Address{"Unter den Linden 5", "Berlin", "10117", "DE"}, "c4rol-secret"},
		{42, "dave", "Dave Okafor", "dave.okafor@example.co.uk", "+44-20-7946-0042", Address{"221B Baker St", "London", "NW1 6XE", "GB"}, "hitchhiker42"},
		{58, "erin", "Erin Rossi", "erin.rossi@example.it", "+39-06-5550158", Address{"Via del Corso 12", "Roma", "00186", "IT"}, "pasta-la-vista"},
		{64, "frank", "Frank Dubois", "frank.dubois@example.fr", "+33-1-5550-0164", Address{"8 Rue de Rivoli", "Paris", "75004", "FR"}, "baguette-99"},
		{77, "grace", "Grace Hopper", "grace.hopper@example.org", "+1-202-555-0177", Address{"1600 Navy Yard", "Washington", "20003", "US"}, "cobol-1959"},
		{81, "heidi", "Heidi Larsen", "heidi.larsen@example.no", "+47-22-55-0181", Address{"Karl Johans gate 3", "Oslo", "0154", "NO"}, "fjord-view-7"},
		{95, "ivan", "Ivan Petrov", "ivan.petrov@example.bg", "+359-2-555-0195", Address{"Vitosha Blvd 20", "Sofia", "1000", "BG"}, "rila-peak-2925"},
		{103, "judy", "Judy Tanaka", "judy.tanaka@example.jp", "+81-3-5550-0103", Address{"2-1 Marunouchi", "Tokyo", "100-0005", "JP"}, "sakura-blossom"},
		{118, "mallory", "Mallory Jones", "mallory.jones@example.com", "+1-312-555-0118", Address{"233 S Wacker Dr", "Chicago", "60606", "US"}, "not-so-evil-1"},
		{126, "oscar", "Oscar Silva", "oscar.silva@example.br", "+55-11-5550-0126", Address{"Av. Paulista 1000", "Sao Paulo", "01310-100", "BR"}, "samba-2026"},
	}
}

// DemoCredentials returns the username, password and user id of every demo
// customer, for traffic generators and tests.
func DemoCredentials() []Credentials {
	us := users()
	out := make([]Credentials, len(us))
	for i, u := range us {
		out[i] = Credentials{Username: u.Username, Password: u.password, UserID: u.ID}
	}
	return out
}
