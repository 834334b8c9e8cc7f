"""The demo security universe: tickers, company names and sectors written from general knowledge.

Only names and tickers live here; prices, deviations and ids are drawn by ``data.demo.generate``. The last block
holds delisted tickers that the security service knows but the pricing service does not (a realistic gap).
"""

from __future__ import annotations

UNIVERSE = """
Technology|AAPL|Apple Inc.
Technology|MSFT|Microsoft Corporation
Technology|NVDA|NVIDIA Corporation
Technology|AVGO|Broadcom Inc.
Technology|ORCL|Oracle Corporation
Technology|CRM|Salesforce Inc.
Technology|ADBE|Adobe Inc.
Technology|CSCO|Cisco Systems Inc.
Technology|INTC|Intel Corporation
Technology|AMD|Advanced Micro Devices Inc.
Technology|QCOM|Qualcomm Incorporated
Technology|TXN|Texas Instruments Incorporated
Technology|IBM|International Business Machines Corporation
Technology|INTU|Intuit Inc.
Technology|NOW|ServiceNow Inc.
Technology|AMAT|Applied Materials Inc.
Technology|MU|Micron Technology Inc.
Technology|LRCX|Lam Research Corporation
Technology|KLAC|KLA Corporation
Technology|ADI|Analog Devices Inc.
Technology|SNPS|Synopsys Inc.
Technology|CDNS|Cadence Design Systems Inc.
Technology|MCHP|Microchip Technology Incorporated
Technology|NXPI|NXP Semiconductors N.V.
Technology|MRVL|Marvell Technology Inc.
Technology|ON|ON Semiconductor Corporation
Technology|ADSK|Autodesk Inc.
Technology|PANW|Palo Alto Networks Inc.
Technology|FTNT|Fortinet Inc.
Technology|ANET|Arista Networks Inc.
Technology|HPQ|HP Inc.
Technology|HPE|Hewlett Packard Enterprise Company
Technology|DELL|Dell Technologies Inc.
Technology|WDC|Western Digital Corporation
Technology|STX|Seagate Technology Holdings plc
Technology|NTAP|NetApp Inc.
Technology|ACN|Accenture plc
Technology|CTSH|Cognizant Technology Solutions Corporation
Technology|IT|Gartner Inc.
Technology|AKAM|Akamai Technologies Inc.
Technology|FFIV|F5 Inc.
Technology|GLW|Corning Incorporated
Technology|TEL|TE Connectivity Ltd.
Technology|APH|Amphenol Corporation
Technology|KEYS|Keysight Technologies Inc.
Technology|ZBRA|Zebra Technologies Corporation
Technology|TER|Teradyne Inc.
Technology|SWKS|Skyworks Solutions Inc.
Technology|QRVO|Qorvo Inc.
Technology|MPWR|Monolithic Power Systems Inc.
Technology|ENPH|Enphase Energy Inc.
Technology|FSLR|First Solar Inc.
Technology|TYL|Tyler Technologies Inc.
Technology|PTC|PTC Inc.
Technology|ROP|Roper Technologies Inc.
Technology|PAYX|Paychex Inc.
Technology|ADP|Automatic Data Processing Inc.
Technology|FIS|Fidelity National Information Services Inc.
Technology|FI|Fiserv Inc.
Technology|GPN|Global Payments Inc.
Technology|V|Visa Inc. Class A
Technology|MA|Mastercard Incorporated Class A
Technology|PYPL|PayPal Holdings Inc.
Communication|GOOGL|Alphabet Inc. Class A
Communication|GOOG|Alphabet Inc. Class C
Communication|META|Meta Platforms Inc. Class A
Communication|NFLX|Netflix Inc.
Communication|DIS|The Walt Disney Company
Communication|CMCSA|Comcast Corporation Class A
Communication|T|AT&T Inc.
Communication|VZ|Verizon Communications Inc.
Communication|TMUS|T-Mobile US Inc.
Communication|CHTR|Charter Communications Inc. Class A
Communication|EA|Electronic Arts Inc.
Communication|TTWO|Take-Two Interactive Software Inc.
Communication|WBD|Warner Bros. Discovery Inc.
Communication|OMC|Omnicom Group Inc.
Communication|IPG|The Interpublic Group of Companies Inc.
Communication|NWSA|News Corporation Class A
Communication|FOXA|Fox Corporation Class A
Communication|LYV|Live Nation Entertainment Inc.
Communication|MTCH|Match Group Inc.
Consumer Discretionary|AMZN|Amazon.com Inc.
Consumer Discretionary|TSLA|Tesla Inc.
Consumer Discretionary|HD|The Home Depot Inc.
Consumer Discretionary|LOW|Lowe's Companies Inc.
Consumer Discretionary|MCD|McDonald's Corporation
Consumer Discretionary|NKE|NIKE Inc. Class B
Consumer Discretionary|SBUX|Starbucks Corporation
Consumer Discretionary|TJX|The TJX Companies Inc.
Consumer Discretionary|BKNG|Booking Holdings Inc.
Consumer Discretionary|CMG|Chipotle Mexican Grill Inc.
Consumer Discretionary|ORLY|O'Reilly Automotive Inc.
Consumer Discretionary|AZO|AutoZone Inc.
Consumer Discretionary|ROST|Ross Stores Inc.
Consumer Discretionary|MAR|Marriott International Inc. Class A
Consumer Discretionary|HLT|Hilton Worldwide Holdings Inc.
Consumer Discretionary|YUM|Yum! Brands Inc.
Consumer Discretionary|DPZ|Domino's Pizza Inc.
Consumer Discretionary|GM|General Motors Company
Consumer Discretionary|F|Ford Motor Company
Consumer Discretionary|APTV|Aptiv PLC
Consumer Discretionary|EBAY|eBay Inc.
Consumer Discretionary|ETSY|Etsy Inc.
Consumer Discretionary|EXPE|Expedia Group Inc.
Consumer Discretionary|RCL|Royal Caribbean Cruises Ltd.
Consumer Discretionary|CCL|Carnival Corporation
Consumer Discretionary|NCLH|Norwegian Cruise Line Holdings Ltd.
Consumer Discretionary|LVS|Las Vegas Sands Corp.
Consumer Discretionary|WYNN|Wynn Resorts Limited
Consumer Discretionary|MGM|MGM Resorts International
Consumer Discretionary|DRI|Darden Restaurants Inc.
Consumer Discretionary|ULTA|Ulta Beauty Inc.
Consumer Discretionary|BBY|Best Buy Co. Inc.
Consumer Discretionary|KMX|CarMax Inc.
Consumer Discretionary|GPC|Genuine Parts Company
Consumer Discretionary|LKQ|LKQ Corporation
Consumer Discretionary|POOL|Pool Corporation
Consumer Discretionary|TSCO|Tractor Supply Company
Consumer Discretionary|NVR|NVR Inc.
Consumer Discretionary|DHI|D.R. Horton Inc.
Consumer Discretionary|LEN|Lennar Corporation Class A
Consumer Discretionary|PHM|PulteGroup Inc.
Consumer Discretionary|WHR|Whirlpool Corporation
Consumer Discretionary|HAS|Hasbro Inc.
Consumer Discretionary|RL|Ralph Lauren Corporation Class A
Consumer Discretionary|TPR|Tapestry Inc.
Consumer Discretionary|LULU|Lululemon Athletica Inc.
Consumer Discretionary|DECK|Deckers Outdoor Corporation
Consumer Discretionary|BWA|BorgWarner Inc.
Consumer Discretionary|GRMN|Garmin Ltd.
Consumer Staples|PG|The Procter & Gamble Company
Consumer Staples|KO|The Coca-Cola Company
Consumer Staples|PEP|PepsiCo Inc.
Consumer Staples|WMT|Walmart Inc.
Consumer Staples|COST|Costco Wholesale Corporation
Consumer Staples|PM|Philip Morris International Inc.
Consumer Staples|MO|Altria Group Inc.
Consumer Staples|MDLZ|Mondelez International Inc. Class A
Consumer Staples|CL|Colgate-Palmolive Company
Consumer Staples|KMB|Kimberly-Clark Corporation
Consumer Staples|GIS|General Mills Inc.
Consumer Staples|K|Kellanova
Consumer Staples|HSY|The Hershey Company
Consumer Staples|KHC|The Kraft Heinz Company
Consumer Staples|SYY|Sysco Corporation
Consumer Staples|KR|The Kroger Co.
Consumer Staples|EL|The Estee Lauder Companies Inc. Class A
Consumer Staples|CLX|The Clorox Company
Consumer Staples|CHD|Church & Dwight Co. Inc.
Consumer Staples|MKC|McCormick & Company Incorporated
Consumer Staples|CPB|The Campbell's Company
Consumer Staples|CAG|Conagra Brands Inc.
Consumer Staples|SJM|The J.M. Smucker Company
Consumer Staples|HRL|Hormel Foods Corporation
Consumer Staples|TSN|Tyson Foods Inc. Class A
Consumer Staples|ADM|Archer-Daniels-Midland Company
Consumer Staples|BG|Bunge Global SA
Consumer Staples|STZ|Constellation Brands Inc. Class A
Consumer Staples|BF.B|Brown-Forman Corporation Class B
Consumer Staples|TAP|Molson Coors Beverage Company Class B
Consumer Staples|MNST|Monster Beverage Corporation
Consumer Staples|KDP|Keurig Dr Pepper Inc.
Consumer Staples|WBA|Walgreens Boots Alliance Inc.
Consumer Staples|TGT|Target Corporation
Consumer Staples|DG|Dollar General Corporation
Consumer Staples|DLTR|Dollar Tree Inc.
Health Care|JNJ|Johnson & Johnson
Health Care|UNH|UnitedHealth Group Incorporated
Health Care|LLY|Eli Lilly and Company
Health Care|PFE|Pfizer Inc.
Health Care|MRK|Merck & Co. Inc.
Health Care|ABBV|AbbVie Inc.
Health Care|TMO|Thermo Fisher Scientific Inc.
Health Care|ABT|Abbott Laboratories
Health Care|DHR|Danaher Corporation
Health Care|BMY|Bristol-Myers Squibb Company
Health Care|AMGN|Amgen Inc.
Health Care|GILD|Gilead Sciences Inc.
Health Care|CVS|CVS Health Corporation
Health Care|CI|The Cigna Group
Health Care|ELV|Elevance Health Inc.
Health Care|HUM|Humana Inc.
Health Care|CNC|Centene Corporation
Health Care|MDT|Medtronic plc
Health Care|SYK|Stryker Corporation
Health Care|BSX|Boston Scientific Corporation
Health Care|ISRG|Intuitive Surgical Inc.
Health Care|EW|Edwards Lifesciences Corporation
Health Care|ZBH|Zimmer Biomet Holdings Inc.
Health Care|BDX|Becton Dickinson and Company
Health Care|BAX|Baxter International Inc.
Health Care|VRTX|Vertex Pharmaceuticals Incorporated
Health Care|REGN|Regeneron Pharmaceuticals Inc.
Health Care|BIIB|Biogen Inc.
Health Care|MRNA|Moderna Inc.
Health Care|IQV|IQVIA Holdings Inc.
Health Care|A|Agilent Technologies Inc.
Health Care|MTD|Mettler-Toledo International Inc.
Health Care|WAT|Waters Corporation
Health Care|IDXX|IDEXX Laboratories Inc.
Health Care|RMD|ResMed Inc.
Health Care|DXCM|DexCom Inc.
Health Care|ALGN|Align Technology Inc.
Health Care|HOLX|Hologic Inc.
Health Care|MCK|McKesson Corporation
Health Care|CAH|Cardinal Health Inc.
Health Care|COR|Cencora Inc.
Health Care|HCA|HCA Healthcare Inc.
Health Care|UHS|Universal Health Services Inc. Class B
Health Care|LH|Labcorp Holdings Inc.
Health Care|DGX|Quest Diagnostics Incorporated
Health Care|STE|STERIS plc
Health Care|COO|The Cooper Companies Inc.
Health Care|INCY|Incyte Corporation
Health Care|ZTS|Zoetis Inc. Class A
Financials|JPM|JPMorgan Chase & Co.
Financials|BAC|Bank of America Corporation
Financials|WFC|Wells Fargo & Company
Financials|C|Citigroup Inc.
Financials|GS|The Goldman Sachs Group Inc.
Financials|MS|Morgan Stanley
Financials|BRK.B|Berkshire Hathaway Inc. Class B
Financials|BLK|BlackRock Inc.
Financials|SCHW|The Charles Schwab Corporation
Financials|AXP|American Express Company
Financials|USB|U.S. Bancorp
Financials|PNC|The PNC Financial Services Group Inc.
Financials|TFC|Truist Financial Corporation
Financials|COF|Capital One Financial Corporation
Financials|BK|The Bank of New York Mellon Corporation
Financials|STT|State Street Corporation
Financials|NTRS|Northern Trust Corporation
Financials|MET|MetLife Inc.
Financials|PRU|Prudential Financial Inc.
Financials|AIG|American International Group Inc.
Financials|ALL|The Allstate Corporation
Financials|TRV|The Travelers Companies Inc.
Financials|PGR|The Progressive Corporation
Financials|CB|Chubb Limited
Financials|MMC|Marsh & McLennan Companies Inc.
Financials|AON|Aon plc Class A
Financials|AJG|Arthur J. Gallagher & Co.
Financials|ICE|Intercontinental Exchange Inc.
Financials|CME|CME Group Inc. Class A
Financials|SPGI|S&P Global Inc.
Financials|MCO|Moody's Corporation
Financials|MSCI|MSCI Inc.
Financials|NDAQ|Nasdaq Inc.
Financials|CBOE|Cboe Global Markets Inc.
Financials|AMP|Ameriprise Financial Inc.
Financials|TROW|T. Rowe Price Group Inc.
Financials|BEN|Franklin Resources Inc.
Financials|IVZ|Invesco Ltd.
Financials|RJF|Raymond James Financial Inc.
Financials|FITB|Fifth Third Bancorp
Financials|KEY|KeyCorp
Financials|RF|Regions Financial Corporation
Financials|HBAN|Huntington Bancshares Incorporated
Financials|CFG|Citizens Financial Group Inc.
Financials|MTB|M&T Bank Corporation
Financials|AFL|Aflac Incorporated
Financials|HIG|The Hartford Financial Services Group Inc.
Financials|PFG|Principal Financial Group Inc.
Financials|L|Loews Corporation
Financials|CINF|Cincinnati Financial Corporation
Financials|SYF|Synchrony Financial
Financials|MKL|Markel Group Inc.
Financials|WRB|W. R. Berkley Corporation
Industrials|BA|The Boeing Company
Industrials|CAT|Caterpillar Inc.
Industrials|DE|Deere & Company
Industrials|GE|GE Aerospace
Industrials|HON|Honeywell International Inc.
Industrials|UNP|Union Pacific Corporation
Industrials|UPS|United Parcel Service Inc. Class B
Industrials|FDX|FedEx Corporation
Industrials|LMT|Lockheed Martin Corporation
Industrials|RTX|RTX Corporation
Industrials|NOC|Northrop Grumman Corporation
Industrials|GD|General Dynamics Corporation
Industrials|MMM|3M Company
Industrials|EMR|Emerson Electric Co.
Industrials|ETN|Eaton Corporation plc
Industrials|ITW|Illinois Tool Works Inc.
Industrials|CSX|CSX Corporation
Industrials|NSC|Norfolk Southern Corporation
Industrials|WM|Waste Management Inc.
Industrials|RSG|Republic Services Inc.
Industrials|PH|Parker-Hannifin Corporation
Industrials|ROK|Rockwell Automation Inc.
Industrials|CMI|Cummins Inc.
Industrials|PCAR|PACCAR Inc.
Industrials|JCI|Johnson Controls International plc
Industrials|CARR|Carrier Global Corporation
Industrials|OTIS|Otis Worldwide Corporation
Industrials|TT|Trane Technologies plc
Industrials|GWW|W.W. Grainger Inc.
Industrials|FAST|Fastenal Company
Industrials|URI|United Rentals Inc.
Industrials|DAL|Delta Air Lines Inc.
Industrials|UAL|United Airlines Holdings Inc.
Industrials|LUV|Southwest Airlines Co.
Industrials|ODFL|Old Dominion Freight Line Inc.
Industrials|JBHT|J.B. Hunt Transport Services Inc.
Industrials|CHRW|C.H. Robinson Worldwide Inc.
Industrials|EXPD|Expeditors International of Washington Inc.
Industrials|TDG|TransDigm Group Incorporated
Industrials|HWM|Howmet Aerospace Inc.
Industrials|LHX|L3Harris Technologies Inc.
Industrials|TXT|Textron Inc.
Industrials|DOV|Dover Corporation
Industrials|XYL|Xylem Inc.
Industrials|IR|Ingersoll Rand Inc.
Industrials|AME|AMETEK Inc.
Industrials|FTV|Fortive Corporation
Industrials|SWK|Stanley Black & Decker Inc.
Industrials|SNA|Snap-on Incorporated
Industrials|PNR|Pentair plc
Industrials|VRSK|Verisk Analytics Inc.
Industrials|EFX|Equifax Inc.
Industrials|CTAS|Cintas Corporation
Industrials|PWR|Quanta Services Inc.
Industrials|WAB|Westinghouse Air Brake Technologies Corporation
Energy|XOM|Exxon Mobil Corporation
Energy|CVX|Chevron Corporation
Energy|COP|ConocoPhillips
Energy|EOG|EOG Resources Inc.
Energy|SLB|Schlumberger Limited
Energy|OXY|Occidental Petroleum Corporation
Energy|PSX|Phillips 66
Energy|MPC|Marathon Petroleum Corporation
Energy|VLO|Valero Energy Corporation
Energy|KMI|Kinder Morgan Inc.
Energy|WMB|The Williams Companies Inc.
Energy|OKE|ONEOK Inc.
Energy|HAL|Halliburton Company
Energy|BKR|Baker Hughes Company Class A
Energy|DVN|Devon Energy Corporation
Energy|FANG|Diamondback Energy Inc.
Energy|CTRA|Coterra Energy Inc.
Energy|TRGP|Targa Resources Corp.
Utilities|NEE|NextEra Energy Inc.
Utilities|DUK|Duke Energy Corporation
Utilities|SO|The Southern Company
Utilities|D|Dominion Energy Inc.
Utilities|AEP|American Electric Power Company Inc.
Utilities|EXC|Exelon Corporation
Utilities|SRE|Sempra
Utilities|XEL|Xcel Energy Inc.
Utilities|ED|Consolidated Edison Inc.
Utilities|PEG|Public Service Enterprise Group Incorporated
Utilities|WEC|WEC Energy Group Inc.
Utilities|ES|Eversource Energy
Utilities|EIX|Edison International
Utilities|DTE|DTE Energy Company
Utilities|ETR|Entergy Corporation
Utilities|AEE|Ameren Corporation
Utilities|CMS|CMS Energy Corporation
Utilities|ATO|Atmos Energy Corporation
Utilities|AWK|American Water Works Company Inc.
Materials|LIN|Linde plc
Materials|APD|Air Products and Chemicals Inc.
Materials|SHW|The Sherwin-Williams Company
Materials|ECL|Ecolab Inc.
Materials|DD|DuPont de Nemours Inc.
Materials|DOW|Dow Inc.
Materials|NEM|Newmont Corporation
Materials|FCX|Freeport-McMoRan Inc.
Materials|NUE|Nucor Corporation
Materials|VMC|Vulcan Materials Company
Materials|MLM|Martin Marietta Materials Inc.
Materials|PPG|PPG Industries Inc.
Materials|ALB|Albemarle Corporation
Materials|CF|CF Industries Holdings Inc.
Materials|IP|International Paper Company
Materials|BALL|Ball Corporation
Real Estate|PLD|Prologis Inc.
Real Estate|AMT|American Tower Corporation
Real Estate|CCI|Crown Castle Inc.
Real Estate|EQIX|Equinix Inc.
Real Estate|PSA|Public Storage
Real Estate|SPG|Simon Property Group Inc.
Real Estate|O|Realty Income Corporation
Real Estate|WELL|Welltower Inc.
Real Estate|DLR|Digital Realty Trust Inc.
Real Estate|AVB|AvalonBay Communities Inc.
Real Estate|EQR|Equity Residential
Real Estate|VTR|Ventas Inc.
Real Estate|EXR|Extra Space Storage Inc.
Real Estate|WY|Weyerhaeuser Company
Real Estate|IRM|Iron Mountain Incorporated
Real Estate|CBRE|CBRE Group Inc. Class A
Delisted|TWTR|Twitter Inc.
Delisted|XLNX|Xilinx Inc.
Delisted|CELG|Celgene Corporation
Delisted|ATVI|Activision Blizzard Inc.
Delisted|PXD|Pioneer Natural Resources Company
Delisted|SIVB|SVB Financial Group
"""

# Tickers that trade far above the rest (a few above $1,000, like a real equity universe).
HIGH_PRICED = {"NVR": "3125.40", "BKNG": "1842.75", "AZO": "1163.20", "MKL": "1048.90", "MTD": "612.35"}


def universe() -> list[tuple[str, str, str]]:
    """``(sector, ticker, name)`` rows in file order: the first three quarters of each sector (the list is ordered
    roughly by size), plus every high-priced ticker, plus all delisted ones: about 300 securities."""
    by_sector: dict[str, list[tuple[str, str, str]]] = {}
    for line in UNIVERSE.strip().splitlines():
        sector, ticker, name = line.split("|")
        by_sector.setdefault(sector, []).append((sector, ticker, name))
    rows = []
    for sector, entries in by_sector.items():
        cap = len(entries) if sector == "Delisted" else -(-len(entries) * 3 // 4)
        rows.extend(e for i, e in enumerate(entries) if i < cap or e[1] in HIGH_PRICED)
    return rows
